// libFuzzer harness: a CIFAR-10 binary batch (plain or gzip) through the record parser.
// Anything but rhonet::data_error is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <rhonet/data/cifar10.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    rhonet::cifar10_records r;
    rhonet::append_cifar10_records(rhonet::decode_file_bytes({data, data + size}, "fuzz.bin", rhonet::cifar10_content_bound), "fuzz.bin", r);
    if (r.labels.size() != r.count || r.pixels.size() != r.count * rhonet::cifar10_pixels) __builtin_trap();
    for (std::uint8_t l : r.labels)
      if (l > 9) __builtin_trap();
  } catch (const rhonet::data_error&) {
  }
  return 0;
}
