# A compile-fail test in a pair: SOURCE must compile without RHONET_FAIL
# and must fail with it, printing every text given on a "// expect:" line of SOURCE. A line
# "// expect errors: N" also pins the number of errors (each reported once, no cascade).
# Usage: cmake -DCXX=... -DINCLUDE=... -DSOURCE=... -P compile_fail.cmake
file(STRINGS "${SOURCE}" expect_lines REGEX "^// expect: ")
if(NOT expect_lines)
  message(FATAL_ERROR "${SOURCE}: no '// expect:' line")
endif()
set(flags -std=c++20 -fsyntax-only -I${INCLUDE})

execute_process(COMMAND ${CXX} ${flags} ${SOURCE} RESULT_VARIABLE ok_rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT ok_rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE}: the valid variant does not compile:\n${out}")
endif()

execute_process(COMMAND ${CXX} ${flags} -DRHONET_FAIL ${SOURCE} RESULT_VARIABLE bad_rc
                OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(bad_rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE}: compiled with RHONET_FAIL, but must not")
endif()
file(STRINGS "${SOURCE}" count_lines REGEX "^// expect errors: [0-9]+$")
foreach(line IN LISTS count_lines)
  string(REGEX REPLACE "^// expect errors: " "" wanted_count "${line}")
  string(REGEX MATCHALL "error: " found "${out}")
  list(LENGTH found found_count)
  if(NOT found_count EQUAL wanted_count)
    message(FATAL_ERROR "${SOURCE}: ${found_count} errors, expected ${wanted_count}:\n${out}")
  endif()
endforeach()
foreach(line IN LISTS expect_lines)
  string(REPLACE "// expect: " "" wanted "${line}")
  string(FIND "${out}" "${wanted}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${SOURCE}: the error does not say '${wanted}':\n${out}")
  endif()
endforeach()
message(STATUS "${SOURCE}: fails as expected")
