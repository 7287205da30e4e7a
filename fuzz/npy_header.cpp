// libFuzzer harness: the npy header parser (magic, version, length, the Python dict) on bytes
// in memory, the part of checkpoint loading with the most parsing. The checkpoint harness
// covers the same parser through files, at a tenth of the speed. Anything but
// rhonet::data_error, or a header that contradicts the bytes, is a finding.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include <rhonet/io/npy.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    const rhonet::npy::header h = rhonet::npy::read_header(in, "fuzz.npy");
    if (h.data_offset > size || h.dict_offset > h.data_offset) __builtin_trap();
    (void)rhonet::npy::shape_string(h.shape);
  } catch (const rhonet::data_error&) {
  }
  return 0;
}
