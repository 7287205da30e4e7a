// libFuzzer harness: an IDX file's bytes (plain) through the image and the label parser.
// Any exception other than rhonet::data_error, any crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <rhonet/data/idx.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::uint8_t> raw(data, data + size);
  try {
    const rhonet::idx_images img = rhonet::parse_idx_images(rhonet::decode_file_bytes(raw, "fuzz.idx"), "fuzz.idx");
    if (img.pixels.size() != img.count * img.rows * img.cols) __builtin_trap();
  } catch (const rhonet::data_error&) {
  }
  try {
    const auto labels = rhonet::parse_idx_labels(rhonet::decode_file_bytes(raw, "fuzz.idx"), "fuzz.idx", 10);
    for (std::uint8_t l : labels)
      if (l > 9) __builtin_trap();
  } catch (const rhonet::data_error&) {
  }
  return 0;
}
