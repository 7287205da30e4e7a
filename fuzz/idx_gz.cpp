// libFuzzer harness: a gzip-compressed IDX file (the input is the .gz file; the gzip magic
// is prepended when missing so every input goes through the decompressor) through the image
// and label parsers. Anything but rhonet::data_error is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <rhonet/data/idx.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> raw;
  if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) raw = {0x1f, 0x8b};
  raw.insert(raw.end(), data, data + size);
  try {
    const rhonet::file_bytes f = rhonet::decode_file_bytes(raw, "fuzz.idx.gz", rhonet::idx_content_bound);
    if (!f.gzip) __builtin_trap();
    try {
      const rhonet::idx_images img = rhonet::parse_idx_images(f, "fuzz.idx.gz");
      if (img.pixels.size() != img.count * img.rows * img.cols) __builtin_trap();
    } catch (const rhonet::data_error&) {
    }
    const auto labels = rhonet::parse_idx_labels(f, "fuzz.idx.gz", 10);
    for (std::uint8_t l : labels)
      if (l > 9) __builtin_trap();
  } catch (const rhonet::data_error&) {
  }
  return 0;
}
