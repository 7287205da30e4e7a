// Reader for the CIFAR-10 binary version (cifar-10-binary.tar.gz): each record is one label
// byte followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each 32x32 row-major),
// i.e. already CHW. Train = data_batch_1.bin .. data_batch_5.bin, test = test_batch.bin,
// 10000 records each; smaller files are accepted so tests and subsets work, larger ones not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <rhonet/core/error.hpp>
#include <rhonet/data/file_bytes.hpp>

namespace rhonet {

inline constexpr std::size_t cifar10_pixels = 3 * 32 * 32;
inline constexpr std::size_t cifar10_record_size = 1 + cifar10_pixels;
// A batch file of the binary version holds 10000 records; no more is read from one file
// (this bounds what a .gz may inflate to).
inline constexpr std::size_t cifar10_max_records = 10000;
inline constexpr content_bound cifar10_content_bound{cifar10_max_records * cifar10_record_size};

struct cifar10_records {
  std::size_t count = 0;
  std::vector<std::uint8_t> labels;  // count, each in [0, 9]
  std::vector<std::uint8_t> pixels;  // count * 3072, CHW per record
};

// Appends the records of one batch file's content (in memory, see decode_file_bytes) to `out`.
inline void append_cifar10_records(const file_bytes& f, const std::string& name, cifar10_records& out) {
  const auto& b = f.bytes;
  const char* where = f.gzip ? "decompressed" : "";
  if (f.stopped)
    throw data_error(name, b.size(),
                     "end of data after at most " + std::to_string(cifar10_max_records) +
                         " records (the size of a CIFAR-10 batch file)",
                     "more decompressed data (decompression stopped there)", where);
  if (b.empty())
    throw data_error(name, 0, "at least one 3073-byte record",
                     f.gzip ? "no decompressed data" : "an empty file", where);
  const std::size_t n = b.size() / cifar10_record_size;
  const std::size_t extra = b.size() % cifar10_record_size;
  if (extra != 0)
    throw data_error(name, b.size(),
                     "a size that is a multiple of 3073 (1 label + 3072 pixel bytes per record)",
                     std::to_string(b.size()) + " bytes = " + std::to_string(n) + " records + " +
                         std::to_string(extra) + " bytes",
                     where);

  out.labels.reserve(out.labels.size() + n);
  out.pixels.reserve(out.pixels.size() + n * cifar10_pixels);
  for (std::size_t r = 0; r < n; ++r) {
    const std::uint8_t* rec = b.data() + r * cifar10_record_size;
    if (rec[0] > 9) {
      const std::string record = "record " + std::to_string(r);
      throw data_error(name, r * cifar10_record_size, "label in [0, 9]", std::to_string(rec[0]),
                       f.gzip ? "decompressed, " + record : record);
    }
    out.labels.push_back(rec[0]);
    out.pixels.insert(out.pixels.end(), rec + 1, rec + cifar10_record_size);
  }
  out.count += n;
}

// Appends the records of one batch file to `out`.
inline void append_cifar10_batch(const std::filesystem::path& path, cifar10_records& out) {
  const std::string name = path.string();
  if (!std::filesystem::exists(path))
    throw data_error(name, 0,
                     "a CIFAR-10 binary batch (data_batch_1..5.bin, test_batch.bin of the binary "
                     "version)",
                     "no such file");
  append_cifar10_records(read_file_bytes(path, cifar10_content_bound), name, out);
}

inline cifar10_records read_cifar10_batch(const std::filesystem::path& path) {
  cifar10_records r;
  append_cifar10_batch(path, r);
  return r;
}

// Accepts either the folder holding the .bin files or its parent (where the tarball was
// unpacked and cifar-10-batches-bin/ was created).
inline std::filesystem::path cifar10_batches_dir(const std::filesystem::path& folder) {
  const auto nested = folder / "cifar-10-batches-bin";
  if (!std::filesystem::exists(folder / "test_batch.bin") &&
      !std::filesystem::exists(folder / "data_batch_1.bin") &&
      std::filesystem::is_directory(nested))
    return nested;
  return folder;
}

inline std::vector<std::filesystem::path> cifar10_train_files(const std::filesystem::path& folder) {
  const auto dir = cifar10_batches_dir(folder);
  std::vector<std::filesystem::path> files;
  for (int i = 1; i <= 5; ++i) files.push_back(dir / ("data_batch_" + std::to_string(i) + ".bin"));
  return files;
}

inline std::filesystem::path cifar10_test_file(const std::filesystem::path& folder) {
  return cifar10_batches_dir(folder) / "test_batch.bin";
}

// Reads the files in order and concatenates their records.
inline cifar10_records read_cifar10(const std::vector<std::filesystem::path>& files) {
  cifar10_records r;
  for (const auto& f : files) append_cifar10_batch(f, r);
  return r;
}

}  // namespace rhonet
