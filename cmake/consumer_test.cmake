# Installs the rhonet build tree into a scratch prefix, then configures, builds and runs a
# consumer project against it; with EXAMPLE_SOURCE, the consumer also builds that example
# (examples/train_multiclass.cpp) and runs it for one short epoch on a subset of
# Fashion-MNIST (skipped, with a message, when the data set is not installed).
# Usage: -DBUILD_DIR= -DWORK_DIR= -DCONSUMER_SOURCE= [-DEXAMPLE_SOURCE=]
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}")
  endif()
  message(STATUS "${out}")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_BUILD_TYPE=Release -DRHONET_EXAMPLE_SOURCE=${EXAMPLE_SOURCE})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)

if(EXAMPLE_SOURCE)
  set(data $ENV{RHONET_FASHION_MNIST})
  if(NOT data)
    set(data /usr/share/datasets/fashion-mnist)
  endif()
  if(NOT EXISTS ${data}/t10k-images-idx3-ubyte.gz AND NOT EXISTS ${data}/t10k-images-idx3-ubyte)
    message(STATUS "Fashion-MNIST not found in ${data}: the installed train_multiclass was built, not run")
    return()
  endif()
  run(${WORK_DIR}/build/train_multiclass --epochs 1 --limit-train 640 --val 128 --limit-test 200 --batch 32
      --out ${WORK_DIR}/multiclass)
  foreach(line "epoch 1 " "test accuracy" "loaded back: test accuracy" "predicted")
    string(FIND "${last_output}" "${line}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "the installed train_multiclass printed no '${line}':\n${last_output}")
    endif()
  endforeach()
  if(NOT EXISTS ${WORK_DIR}/multiclass/model/manifest.json)
    message(FATAL_ERROR "the installed train_multiclass saved no model in ${WORK_DIR}/multiclass/model")
  endif()
endif()
