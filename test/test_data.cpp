#define BOOST_TEST_MODULE rhonet_data
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <xtensor/xmath.hpp>
#include <zlib.h>

#include <rhonet/core/error.hpp>
#include <rhonet/data/batcher.hpp>
#include <rhonet/data/binary_task.hpp>
#include <rhonet/data/cifar10.hpp>
#include <rhonet/data/class_task.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/data/idx.hpp>
#include <rhonet/data/one_hot.hpp>
#include <rhonet/data/preprocess.hpp>
#include <rhonet/data/subset.hpp>
#include <rhonet/io/channel_stats.hpp>

namespace fs = std::filesystem;
using bytes = std::vector<std::uint8_t>;

namespace {

// A fresh directory per test case, removed afterwards.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    path = fs::temp_directory_path() /
           ("rhonet_test_data_" + std::to_string(rd()) + "_" + std::to_string(t));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
};

void write_plain(const fs::path& p, const bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  BOOST_REQUIRE(out.good());
}

void write_gz(const fs::path& p, const bytes& b) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  BOOST_REQUIRE(f != nullptr);
  if (!b.empty())
    BOOST_REQUIRE_EQUAL(gzwrite(f, b.data(), static_cast<unsigned>(b.size())),
                        static_cast<int>(b.size()));
  BOOST_REQUIRE_EQUAL(gzclose(f), Z_OK);
}

void write_file(const fs::path& p, const bytes& b, bool gz) {
  gz ? write_gz(p, b) : write_plain(p, b);
}

bytes read_raw(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), {});
}

void put_be32(bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

bytes idx_images_file(std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                      const bytes& pixels) {
  bytes b;
  put_be32(b, 2051);
  put_be32(b, count);
  put_be32(b, rows);
  put_be32(b, cols);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

bytes idx_labels_file(const bytes& labels) {
  bytes b;
  put_be32(b, 2049);
  put_be32(b, static_cast<std::uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

bytes iota_bytes(std::size_t n, std::uint8_t start = 0) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(start + i);
  return b;
}

// Predicate for BOOST_CHECK_EXCEPTION: what() holds every part, and the offset if given.
std::function<bool(const rhonet::data_error&)> error_with(
    std::vector<std::string> parts, std::optional<std::uint64_t> offset = {}) {
  return [parts = std::move(parts), offset](const rhonet::data_error& e) {
    const std::string what = e.what();
    bool ok = true;
    for (const auto& p : parts)
      if (what.find(p) == std::string::npos) {
        BOOST_TEST_MESSAGE("missing \"" << p << "\" in: " << what);
        ok = false;
      }
    if (offset) {
      if (e.position() != *offset) BOOST_TEST_MESSAGE("offset " << e.position() << " in: " << what);
      ok = ok && e.position() == *offset &&
           what.find("at byte offset " + std::to_string(*offset)) != std::string::npos;
    }
    if (!ok) BOOST_TEST_MESSAGE("what(): " << what);
    return ok;
  };
}

std::function<bool(const std::exception&)> message_with(std::string part) {
  return [part = std::move(part)](const std::exception& e) {
    const bool ok = std::string(e.what()).find(part) != std::string::npos;
    if (!ok) BOOST_TEST_MESSAGE("missing \"" << part << "\" in: " << e.what());
    return ok;
  };
}

// N samples of 1 x 1 x D "images" with row i = [i, i, ...], one-hot targets over 10 classes.
rhonet::dataset<double> toy(const std::vector<int>& labels, std::size_t dim = 3) {
  rhonet::dataset<double> d;
  const std::size_t n = labels.size();
  d.channels = 1;
  d.height = 1;
  d.width = dim;
  d.classes = 10;
  d.source = "toy";
  d.label = labels;
  d.x = rhonet::matrix<double>::from_shape({n, dim});
  d.target = rhonet::matrix<double>::from_shape({n, 10});
  d.target.fill(0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < dim; ++j) d.x(i, j) = static_cast<double>(i);
    d.target(i, static_cast<std::size_t>(labels[i])) = 1;
  }
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(error)

BOOST_AUTO_TEST_CASE(message_format) {
  const rhonet::data_error e("f.idx", 8, "label in [0, 9]", "12", "record 3");
  BOOST_TEST(std::string(e.what()) ==
             "f.idx: at byte offset 8 (record 3): expected label in [0, 9], found 12");
  BOOST_TEST(e.file() == "f.idx");
  BOOST_TEST(e.position() == 8u);
  const rhonet::data_error plain("a.bin", 0, "x", "y");
  BOOST_TEST(std::string(plain.what()) == "a.bin: at byte offset 0: expected x, found y");
  BOOST_CHECK_THROW(throw plain, std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(idx)

BOOST_AUTO_TEST_CASE(round_trip_plain_and_gzip) {
  temp_dir dir;
  const bytes pixels = iota_bytes(3 * 2 * 4, 200);  // wraps past 255: all byte values are kept
  const bytes labels = {0, 9, 4};
  for (bool gz : {false, true}) {
    BOOST_TEST_CONTEXT("gzip " << gz) {
      const auto img_path = dir / (gz ? "img.gz" : "img");
      const auto lab_path = dir / (gz ? "lab.gz" : "lab");
      write_file(img_path, idx_images_file(3, 2, 4, pixels), gz);
      write_file(lab_path, idx_labels_file(labels), gz);
      BOOST_TEST((read_raw(img_path)[0] == 0x1f) == gz);

      const auto img = rhonet::read_idx_images(img_path);
      BOOST_TEST(img.count == 3u);
      BOOST_TEST(img.rows == 2u);
      BOOST_TEST(img.cols == 4u);
      BOOST_TEST(img.pixels == pixels, boost::test_tools::per_element());
      const auto lab = rhonet::read_idx_labels(lab_path);
      BOOST_TEST(lab == labels, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(gzip_detected_by_magic_not_name) {
  temp_dir dir;
  const bytes labels = {1, 2, 3};
  write_gz(dir / "labels.idx", idx_labels_file(labels));    // compressed, no .gz suffix
  write_plain(dir / "labels.gz", idx_labels_file(labels));  // plain, misleading suffix
  BOOST_TEST(rhonet::read_idx_labels(dir / "labels.idx") == labels,
             boost::test_tools::per_element());
  BOOST_TEST(rhonet::read_idx_labels(dir / "labels.gz") == labels,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(concatenated_gzip_members) {
  temp_dir dir;
  const bytes file = idx_labels_file({5, 6, 7, 8});
  write_gz(dir / "a", bytes(file.begin(), file.begin() + 5));
  write_gz(dir / "b", bytes(file.begin() + 5, file.end()));
  bytes both = read_raw(dir / "a");
  const bytes second = read_raw(dir / "b");
  both.insert(both.end(), second.begin(), second.end());
  write_plain(dir / "ab", both);
  BOOST_TEST(rhonet::read_idx_labels(dir / "ab") == bytes({5, 6, 7, 8}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(missing_file_and_directory) {
  temp_dir dir;
  const auto missing = dir / "nope-idx3-ubyte";
  BOOST_CHECK_EXCEPTION(
      rhonet::read_idx_images(missing), rhonet::data_error,
      error_with({missing.string(), "expected an existing file", "no such file"}, 0));
  BOOST_CHECK_EXCEPTION(rhonet::read_idx_labels(dir.path), rhonet::data_error,
                        error_with({dir.path.string(), "a regular file", "a directory"}, 0));
}

// Each corrupt file, written plain and gzip-compressed: the offsets refer to the
// (decompressed) IDX bytes, so they are the same in both forms.
BOOST_AUTO_TEST_CASE(corrupt_idx_files) {
  struct corrupt_case {
    std::string name;
    bytes content;
    bool images;  // read as images, else as labels
    std::vector<std::string> parts;
    std::uint64_t offset;
  };
  bytes truncated_header = idx_images_file(3, 2, 2, {});
  truncated_header.resize(10);
  bytes labels_header_short = idx_labels_file({});
  labels_header_short.resize(6);
  bytes trailing = idx_images_file(3, 2, 2, iota_bytes(12));
  trailing.insert(trailing.end(), {0xde, 0xad, 0xbe});

  const std::vector<corrupt_case> cases = {
      {"empty", {}, true, {"expected IDX magic 2051 (images)"}, 0},
      {"empty_labels", {}, false, {"expected IDX magic 2049 (labels)"}, 0},
      {"magic_too_short",
       {0, 0, 8},
       true,
       {"expected IDX magic 2051", "end of data after 3 bytes"},
       3},
      {"labels_as_images",
       idx_labels_file({1, 2}),
       true,
       {"expected IDX magic 2051 (images)", "found 2049 (an IDX label file)"},
       0},
      {"images_as_labels",
       idx_images_file(1, 1, 1, {7}),
       false,
       {"expected IDX magic 2049 (labels)", "found 2051 (an IDX image file)"},
       0},
      {"truncated_header",
       truncated_header,
       true,
       {"expected the 16-byte IDX header (images)", "found end of data after 10 bytes"},
       10},
      {"truncated_label_header",
       labels_header_short,
       false,
       {"expected the 8-byte IDX header (labels)", "found end of data after 6 bytes"},
       6},
      {"zero_rows",
       idx_images_file(1, 0, 5, {}),
       true,
       {"expected a positive row count", "found 0"},
       8},
      {"zero_cols",
       idx_images_file(1, 5, 0, {}),
       true,
       {"expected a positive column count", "found 0"},
       12},
      {"truncated_data",
       idx_images_file(3, 2, 2, iota_bytes(10)),
       true,
       {"record 2", "expected 28 bytes (16-byte header + 3 images of 2x2)", "found 26 bytes"},
       26},
      {"huge_count",
       idx_images_file(0xffffffffu, 0xffffffffu, 0xffffffffu, iota_bytes(4)),
       true,
       {"record 0", "expected 16-byte header + 4294967295 images of 4294967295x4294967295",
        "found 20 bytes"},
       20},
      {"truncated_labels",
       bytes({0, 0, 8, 1, 0, 0, 0, 5, 1, 2}),
       false,
       {"record 2", "expected 13 bytes (8-byte header + 5 labels)", "found 10 bytes"},
       10},
      {"trailing_garbage",
       trailing,
       true,
       {"expected end of data after 3 images of 2x2", "found 3 trailing bytes"},
       28},
      {"trailing_labels",
       bytes({0, 0, 8, 1, 0, 0, 0, 1, 3, 3}),
       false,
       {"expected end of data after 1 labels", "found 1 trailing bytes"},
       9},
      {"label_out_of_range",
       idx_labels_file({0, 1, 2, 12, 4}),
       false,
       {"record 3)", "expected label in [0, 9], found 12"},
       11},
  };

  temp_dir dir;
  for (const auto& c : cases)
    for (bool gz : {false, true}) {
      BOOST_TEST_CONTEXT(c.name << (gz ? " (gzip)" : " (plain)")) {
        const auto path = dir / (c.name + (gz ? ".gz" : ""));
        write_file(path, c.content, gz);
        auto parts = c.parts;
        parts.push_back(path.string() + ": at byte offset ");
        if (gz) parts.push_back("decompressed");
        const auto read = [&] {
          if (c.images)
            (void)rhonet::read_idx_images(path);
          else
            (void)rhonet::read_idx_labels(path);
        };
        BOOST_CHECK_EXCEPTION(read(), rhonet::data_error, error_with(parts, c.offset));
      }
    }
}

BOOST_AUTO_TEST_CASE(label_error_full_message) {
  temp_dir dir;
  const auto path = dir / "labels";
  write_plain(path, idx_labels_file({0, 1, 2, 12}));
  try {
    (void)rhonet::read_idx_labels(path);
    BOOST_FAIL("no exception");
  } catch (const rhonet::data_error& e) {
    BOOST_TEST(std::string(e.what()) ==
               path.string() +
                   ": at byte offset 11 (record 3): expected label in [0, 9], found 12");
    BOOST_TEST(e.file() == path.string());
    BOOST_TEST(e.position() == 11u);
  }
  // A smaller class range is checked too.
  BOOST_CHECK_EXCEPTION(rhonet::read_idx_labels(path, 2), rhonet::data_error,
                        error_with({"(record 2)", "expected label in [0, 1], found 2"}, 10));
  BOOST_CHECK_THROW(rhonet::read_idx_labels(path, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(bad_gzip_streams) {
  temp_dir dir;
  const auto good = dir / "good.gz";
  write_gz(good, idx_images_file(4, 8, 8, iota_bytes(256)));
  const bytes gz = read_raw(good);
  BOOST_REQUIRE(rhonet::read_idx_images(good).count == 4u);

  bytes bad_crc = gz;
  bad_crc[gz.size() - 8] ^= 0xff;  // CRC-32 in the 8-byte trailer
  write_plain(dir / "bad_crc.gz", bad_crc);
  BOOST_CHECK_EXCEPTION(rhonet::read_idx_images(dir / "bad_crc.gz"), rhonet::data_error,
                        error_with({(dir / "bad_crc.gz").string(), "at byte offset", "(compressed)",
                                    "expected a valid gzip stream", "incorrect data check"}));

  bytes bad_method = gz;
  bad_method[2] = 7;  // only 8 (deflate) exists
  write_plain(dir / "bad_method.gz", bad_method);
  BOOST_CHECK_EXCEPTION(rhonet::read_idx_images(dir / "bad_method.gz"), rhonet::data_error,
                        error_with({(dir / "bad_method.gz").string(), "(compressed)",
                                    "expected a valid gzip stream", "unknown compression method"}));

  bytes truncated = gz;
  truncated.resize(gz.size() - 12);
  write_plain(dir / "truncated.gz", truncated);
  BOOST_CHECK_EXCEPTION(rhonet::read_idx_images(dir / "truncated.gz"), rhonet::data_error,
                        error_with({(dir / "truncated.gz").string(), "(compressed)",
                                    "expected the rest of the gzip stream", "found end of file"},
                                   truncated.size()));

  bytes garbage = gz;
  garbage.insert(garbage.end(), {'j', 'u', 'n', 'k'});
  write_plain(dir / "garbage.gz", garbage);
  BOOST_CHECK_EXCEPTION(
      rhonet::read_idx_images(dir / "garbage.gz"), rhonet::data_error,
      error_with({(dir / "garbage.gz").string(), "(compressed)",
                  "expected end of file after the gzip stream", "found 4 trailing bytes"},
                 gz.size()));

  write_plain(dir / "magic_only.gz", {0x1f, 0x8b});
  BOOST_CHECK_EXCEPTION(rhonet::read_idx_images(dir / "magic_only.gz"), rhonet::data_error,
                        error_with({"(compressed)", "expected the rest of the gzip stream"}, 2));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(cifar10)

namespace {
bytes cifar_records(const std::vector<std::uint8_t>& labels, std::uint8_t seed) {
  bytes b;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    b.push_back(labels[r]);
    for (std::size_t p = 0; p < rhonet::cifar10_pixels; ++p)
      b.push_back(static_cast<std::uint8_t>(seed + 7 * r + p));
  }
  return b;
}
}  // namespace

BOOST_AUTO_TEST_CASE(records) {
  temp_dir dir;
  write_plain(dir / "test_batch.bin", cifar_records({3, 9, 0}, 11));
  const auto r = rhonet::read_cifar10_batch(dir / "test_batch.bin");
  BOOST_TEST(r.count == 3u);
  BOOST_TEST(r.labels == bytes({3, 9, 0}), boost::test_tools::per_element());
  BOOST_REQUIRE(r.pixels.size() == 3 * 3072u);
  for (std::size_t rec = 0; rec < 3; ++rec)
    for (std::size_t p : {std::size_t{0}, std::size_t{1023}, std::size_t{1024}, std::size_t{3071}})
      BOOST_TEST(r.pixels[rec * 3072 + p] == static_cast<std::uint8_t>(11 + 7 * rec + p));
}

BOOST_AUTO_TEST_CASE(load_train_and_test) {
  temp_dir dir;
  const auto batches = dir.path / "cifar-10-batches-bin";  // the tarball's layout
  fs::create_directories(batches);
  for (int i = 1; i <= 5; ++i)
    write_plain(batches / ("data_batch_" + std::to_string(i) + ".bin"),
                cifar_records({static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(9 - i)},
                              static_cast<std::uint8_t>(i)));
  write_gz(batches / "test_batch.bin", cifar_records({7}, 100));  // gzip works as for IDX

  const auto train = rhonet::load_cifar10<float>(rhonet::split::train, dir.path);
  BOOST_TEST(train.size() == 10u);
  BOOST_TEST(train.channels == 3u);
  BOOST_TEST(train.height == 32u);
  BOOST_TEST(train.width == 32u);
  BOOST_TEST(train.features() == 3072u);
  BOOST_TEST(train.outputs() == 10u);
  BOOST_TEST(train.source == "cifar10:train");
  BOOST_TEST(train.label == std::vector<int>({1, 8, 2, 7, 3, 6, 4, 5, 5, 4}),
             boost::test_tools::per_element());
  // Row 3 is file 2, record 1: pixel p = 2 + 7 + p (mod 256), scaled by 1/255.
  for (std::size_t p : {std::size_t{0}, std::size_t{1500}, std::size_t{3071}})
    BOOST_TEST(train.x(3, p) == static_cast<float>(static_cast<std::uint8_t>(9 + p)) / 255.0f);
  BOOST_TEST(train.target(3, 7) == 1.0f);
  BOOST_TEST(train.target(3, 6) == 0.0f);

  const auto test = rhonet::load_cifar10<double>(rhonet::split::test, batches);
  BOOST_TEST(test.size() == 1u);
  BOOST_TEST(test.label[0] == 7);
  BOOST_TEST(test.x(0, 5) == 105.0 / 255.0);
}

BOOST_AUTO_TEST_CASE(corrupt_files) {
  temp_dir dir;
  bytes odd = cifar_records({1, 2}, 0);
  odd.insert(odd.end(), 5, 0);
  write_plain(dir / "odd.bin", odd);
  BOOST_CHECK_EXCEPTION(
      rhonet::read_cifar10_batch(dir / "odd.bin"), rhonet::data_error,
      error_with({(dir / "odd.bin").string(), "expected a size that is a multiple of 3073",
                  "found 6151 bytes = 2 records + 5 bytes"},
                 6151));

  write_plain(dir / "label.bin", cifar_records({1, 10, 2}, 0));
  BOOST_CHECK_EXCEPTION(
      rhonet::read_cifar10_batch(dir / "label.bin"), rhonet::data_error,
      error_with({(dir / "label.bin").string(), "(record 1)", "expected label in [0, 9], found 10"},
                 3073));

  write_plain(dir / "empty.bin", {});
  BOOST_CHECK_EXCEPTION(
      rhonet::read_cifar10_batch(dir / "empty.bin"), rhonet::data_error,
      error_with({"expected at least one 3073-byte record", "found an empty file"}, 0));

  for (int i : {1, 2, 4, 5})
    write_plain(dir / ("data_batch_" + std::to_string(i) + ".bin"), cifar_records({0}, 0));
  BOOST_CHECK_EXCEPTION(
      rhonet::load_cifar10<float>(rhonet::split::train, dir.path), rhonet::data_error,
      error_with({(dir / "data_batch_3.bin").string(), "a CIFAR-10 binary batch", "no such file"},
                 0));
  BOOST_CHECK_EXCEPTION(rhonet::load_cifar10<float>(rhonet::split::test, dir.path),
                        rhonet::data_error,
                        error_with({(dir / "test_batch.bin").string(), "no such file"}, 0));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(fashion_mnist)

BOOST_AUTO_TEST_CASE(load_from_folder) {
  temp_dir dir;
  // Images gzip-compressed, labels plain: both forms are found.
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_images_file(4, 2, 3, iota_bytes(24, 250)));
  write_plain(dir / "t10k-labels-idx1-ubyte", idx_labels_file({9, 0, 0, 3}));
  const auto d = rhonet::load_fashion_mnist<double>(rhonet::split::test, dir.path);
  BOOST_TEST(d.size() == 4u);
  BOOST_TEST(d.channels == 1u);
  BOOST_TEST(d.height == 2u);
  BOOST_TEST(d.width == 3u);
  BOOST_TEST(d.features() == 6u);
  BOOST_TEST(!d.has_bias());
  BOOST_TEST(d.source == "fashion-mnist:test");
  BOOST_TEST(d.x(0, 0) == 250.0 / 255.0);
  BOOST_TEST(d.x(0, 5) == 255.0 / 255.0);
  BOOST_TEST(d.x(1, 0) == 0.0);  // 256 wraps to 0
  BOOST_TEST(d.x(3, 5) == 17.0 / 255.0);
  BOOST_TEST(d.label == std::vector<int>({9, 0, 0, 3}), boost::test_tools::per_element());
  BOOST_TEST(rhonet::class_counts(d) == std::vector<std::size_t>({2, 0, 0, 1, 0, 0, 0, 0, 0, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(d.target(0, 9) == 1.0);
  BOOST_TEST(d.target(3, 3) == 1.0);
  BOOST_TEST(xt::sum(d.target)() == 4.0);
}

BOOST_AUTO_TEST_CASE(count_mismatch) {
  temp_dir dir;
  write_plain(dir / "train-images-idx3-ubyte", idx_images_file(3, 1, 1, {1, 2, 3}));
  write_plain(dir / "train-labels-idx1-ubyte", idx_labels_file({1, 2}));
  BOOST_CHECK_EXCEPTION(
      rhonet::load_fashion_mnist<float>(rhonet::split::train, dir.path), rhonet::data_error,
      error_with({(dir / "train-labels-idx1-ubyte").string(),
                  "expected 3 labels, one per image in train-images-idx3-ubyte", "found 2 labels"},
                 4));
}

BOOST_AUTO_TEST_CASE(missing_folder_says_how_to_install) {
  temp_dir dir;
  const auto nowhere = dir / "no-such-folder";
  BOOST_CHECK_EXCEPTION(
      rhonet::load_fashion_mnist<float>(rhonet::split::test, nowhere), rhonet::data_error,
      error_with({(nowhere / "t10k-images-idx3-ubyte.gz").string(), "dataset-fashion-mnist",
                  "RHONET_FASHION_MNIST", "no such file"},
                 0));
}

BOOST_AUTO_TEST_CASE(default_dir_and_environment) {
  const char* old = std::getenv("RHONET_FASHION_MNIST");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::unsetenv("RHONET_FASHION_MNIST");
  BOOST_TEST(rhonet::default_fashion_mnist_dir() == fs::path("/usr/share/datasets/fashion-mnist"));
  ::setenv("RHONET_FASHION_MNIST", "", 1);
  BOOST_TEST(rhonet::default_fashion_mnist_dir() == fs::path("/usr/share/datasets/fashion-mnist"));
  ::setenv("RHONET_FASHION_MNIST", "/data/fm", 1);
  BOOST_TEST(rhonet::default_fashion_mnist_dir() == fs::path("/data/fm"));
  if (saved)
    ::setenv("RHONET_FASHION_MNIST", saved->c_str(), 1);
  else
    ::unsetenv("RHONET_FASHION_MNIST");
}

BOOST_AUTO_TEST_CASE(real_test_split,
                     *boost::unit_test::precondition([](boost::unit_test::test_unit_id) {
                       return fs::exists(rhonet::default_fashion_mnist_dir());
                     })) {
  const auto d = rhonet::load_fashion_mnist<float>(rhonet::split::test);
  BOOST_TEST(d.size() == 10000u);
  BOOST_TEST(d.channels == 1u);
  BOOST_TEST(d.height == 28u);
  BOOST_TEST(d.width == 28u);
  BOOST_TEST(d.features() == 784u);
  BOOST_TEST(rhonet::class_counts(d) == std::vector<std::size_t>(10, 1000),
             boost::test_tools::per_element());
  BOOST_TEST(xt::amin(d.x)() >= 0.0f);
  BOOST_TEST(xt::amax(d.x)() <= 1.0f);

  // The paper's fully connected input: a binary task, unit-norm rows plus bias -> 785.
  auto task = rhonet::make_binary_task(d, 0, 6, 1, 500);
  rhonet::scale_to_unit_norm(task);
  rhonet::append_bias(task);
  BOOST_TEST(task.size() == 500u);
  BOOST_TEST(task.features() == 785u);
  double sq = 0;
  for (std::size_t j = 0; j < 784; ++j) sq += double(task.x(0, j)) * double(task.x(0, j));
  BOOST_TEST(sq == 1.0, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(task.x(0, 784) == 1.0f);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(binary_task)

BOOST_AUTO_TEST_CASE(one_output_plus_minus_one) {
  const auto full = toy({2, 5, 1, 5, 2, 2, 7});
  const auto t = rhonet::make_binary_task(full, 2, 5);
  BOOST_TEST(t.size() == 5u);
  BOOST_TEST(t.outputs() == 1u);
  BOOST_TEST(t.label == std::vector<int>({2, 5, 5, 2, 2}), boost::test_tools::per_element());
  const std::vector<double> y = {1, -1, -1, 1, 1};
  const std::vector<double> row = {0, 1, 3, 4, 5};  // original row index == x value
  for (std::size_t i = 0; i < 5; ++i) {
    BOOST_TEST(t.target(i, 0) == y[i]);
    BOOST_TEST(t.x(i, 2) == row[i]);
  }
  BOOST_TEST(t.source == "toy[2 vs 5]");
  BOOST_TEST(t.classes == 10u);
  BOOST_TEST(t.channels * t.height * t.width == full.pixels());
}

BOOST_AUTO_TEST_CASE(two_outputs_one_hot_and_limit) {
  const auto full = toy({2, 5, 1, 5, 2, 2, 7});
  const auto t = rhonet::make_binary_task(full, 5, 2, 2, 3);
  BOOST_TEST(t.size() == 3u);
  BOOST_TEST(t.outputs() == 2u);
  BOOST_TEST(t.label == std::vector<int>({2, 5, 5}), boost::test_tools::per_element());
  // class a = 5 -> [1, 0], class b = 2 -> [0, 1]
  BOOST_TEST(t.target(0, 0) == 0.0);
  BOOST_TEST(t.target(0, 1) == 1.0);
  BOOST_TEST(t.target(1, 0) == 1.0);
  BOOST_TEST(t.target(1, 1) == 0.0);
  BOOST_TEST(t.target(2, 0) == 1.0);
  // Deterministic: the same call gives the same rows.
  BOOST_TEST((rhonet::make_binary_task(full, 5, 2, 2, 3).x == t.x));
}

BOOST_AUTO_TEST_CASE(errors) {
  const auto full = toy({2, 5, 1, 5, 2, 2, 7});
  BOOST_CHECK_EXCEPTION(rhonet::make_binary_task(full, 2, 8), std::invalid_argument,
                        message_with("class 8 has no samples"));
  BOOST_CHECK_EXCEPTION(rhonet::make_binary_task(full, 10, 2), std::invalid_argument,
                        message_with("class id 10 is outside [0, 10)"));
  BOOST_CHECK_EXCEPTION(rhonet::make_binary_task(full, 2, -1), std::invalid_argument,
                        message_with("class id -1 is outside [0, 10)"));
  BOOST_CHECK_EXCEPTION(rhonet::make_binary_task(full, 2, 2), std::invalid_argument,
                        message_with("the two classes must differ"));
  BOOST_CHECK_EXCEPTION(rhonet::make_binary_task(full, 2, 5, 3), std::invalid_argument,
                        message_with("outputs must be 1"));
  BOOST_CHECK_EXCEPTION(rhonet::make_binary_task(full, 2, 7, 1, 2), std::invalid_argument,
                        message_with("class 7 has no samples among the first 2 kept"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(class_task)

BOOST_AUTO_TEST_CASE(one_hot_over_the_chosen_classes_in_their_order) {
  const auto full = toy({2, 5, 1, 5, 2, 7, 9});
  const std::vector<int> classes{7, 2, 5};  // output 0 is class 7, 1 is 2, 2 is 5
  const auto t = rhonet::make_class_task(full, std::span<const int>(classes));
  BOOST_TEST(t.size() == 5u);
  BOOST_TEST(t.outputs() == 3u);
  BOOST_TEST(t.label == std::vector<int>({2, 5, 5, 2, 7}), boost::test_tools::per_element());
  const std::vector<std::size_t> hot = {1, 2, 2, 1, 0};
  const std::vector<double> row = {0, 1, 3, 4, 5};  // original row index == x value
  for (std::size_t i = 0; i < 5; ++i) {
    for (std::size_t c = 0; c < 3; ++c) BOOST_TEST(t.target(i, c) == (c == hot[i] ? 1.0 : 0.0));
    BOOST_TEST(t.x(i, 2) == row[i]);
  }
  BOOST_TEST(t.source == "toy[7,2,5]");
  BOOST_TEST(t.classes == 10u);
  // The limit keeps the first rows; the same call gives the same rows.
  const auto l = rhonet::make_class_task(full, std::span<const int>(classes), 5);
  BOOST_TEST((l.x == t.x));
}

BOOST_AUTO_TEST_CASE(errors) {
  const auto full = toy({2, 5, 1, 5, 2, 2, 7});
  auto task = [&](std::vector<int> c, std::optional<std::size_t> limit = std::nullopt) {
    return rhonet::make_class_task(full, std::span<const int>(c), limit);
  };
  BOOST_CHECK_EXCEPTION(task({2}), std::invalid_argument, message_with("expected at least two classes"));
  BOOST_CHECK_EXCEPTION(task({2, 5, 2}), std::invalid_argument, message_with("class 2 is given twice"));
  BOOST_CHECK_EXCEPTION(task({2, 10}), std::invalid_argument, message_with("class id 10 is outside [0, 10)"));
  BOOST_CHECK_EXCEPTION(task({2, 5, 8}), std::invalid_argument, message_with("class 8 has no samples"));
  BOOST_CHECK_EXCEPTION(task({2, 5, 7}, 4), std::invalid_argument,
                        message_with("class 7 has no samples among the first 4 kept"));
  BOOST_CHECK_EXCEPTION(task({2, 5}, 0), std::invalid_argument, message_with("limit must be positive"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(preprocess)

namespace {
// Two channels of 1 x 2 pixels. Channel 0 holds 1, 3, 5, 7 (mean 4, std sqrt 5); channel 1
// is constant 10 (std 0).
rhonet::dataset<double> two_channels(std::vector<std::vector<double>> rows) {
  rhonet::dataset<double> d;
  d.channels = 2;
  d.height = 1;
  d.width = 2;
  d.classes = 10;
  d.source = "hand";
  d.x = rhonet::matrix<double>::from_shape({rows.size(), 4});
  d.target = rhonet::matrix<double>::from_shape({rows.size(), 1});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < 4; ++j) d.x(i, j) = rows[i][j];
    d.label.push_back(0);
  }
  return d;
}
}  // namespace

BOOST_AUTO_TEST_CASE(per_channel_standardisation) {
  auto train = two_channels({{1, 3, 10, 10}, {5, 7, 10, 10}});
  auto test = two_channels({{4, 4 + std::sqrt(5.0), 11, 9}});
  const auto s = rhonet::standardise_per_channel(train, test);
  BOOST_REQUIRE(s.mean.size() == 2u);
  BOOST_TEST(s.mean[0] == 4.0);
  BOOST_TEST(s.mean[1] == 10.0);
  BOOST_TEST(s.stddev[0] == std::sqrt(5.0), boost::test_tools::tolerance(1e-14));
  BOOST_TEST(s.stddev[1] == 0.0);
  const double r5 = std::sqrt(5.0);
  const std::vector<double> expected = {-3 / r5, -1 / r5, 0, 0, 1 / r5, 3 / r5, 0, 0};
  for (std::size_t k = 0; k < 8; ++k)
    BOOST_TEST(train.x(k / 4, k % 4) == expected[k], boost::test_tools::tolerance(1e-14));
  BOOST_TEST(test.x(0, 0) == 0.0, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(test.x(0, 1) == 1.0, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(test.x(0, 2) == 1.0);  // constant channel: centred, not divided by 0
  BOOST_TEST(test.x(0, 3) == -1.0);

  auto wrong = two_channels({{1, 2, 3, 4}});
  wrong.channels = 1;
  wrong.width = 4;
  BOOST_CHECK_THROW(rhonet::standardise(wrong, s), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(unit_norm_and_bias) {
  auto d = two_channels({{3, 4, 0, 0}, {0, 0, 0, 0}, {1, -2, 0.25, 1e-3}});
  rhonet::scale_to_unit_norm(d);
  BOOST_TEST(d.x(0, 0) == 0.6);
  BOOST_TEST(d.x(0, 1) == 0.8);
  for (std::size_t j = 0; j < 4; ++j) BOOST_TEST(d.x(1, j) == 0.0);  // zero row stays zero
  for (std::size_t i : {0u, 2u}) {
    double sq = 0;
    for (std::size_t j = 0; j < 4; ++j) sq += d.x(i, j) * d.x(i, j);
    BOOST_TEST(sq == 1.0, boost::test_tools::tolerance(1e-15));
  }
  const auto before = d.x;

  rhonet::append_bias(d);
  BOOST_TEST(d.features() == 5u);
  BOOST_TEST(d.has_bias());
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 4; ++j) BOOST_TEST(d.x(i, j) == before(i, j));
    BOOST_TEST(d.x(i, 4) == 1.0);
  }
  // The bias goes last: nothing may rescale or re-append after it.
  BOOST_CHECK_THROW(rhonet::append_bias(d), std::logic_error);
  BOOST_CHECK_EXCEPTION(rhonet::scale_to_unit_norm(d), std::logic_error,
                        message_with("append_bias must come last"));
  BOOST_CHECK_THROW(rhonet::channel_statistics(d), std::logic_error);

  auto f = rhonet::dataset<float>{};
  f.channels = 1;
  f.height = 1;
  f.width = 3;
  f.label = {0};
  f.x = rhonet::matrix<float>{{2.0f, 3.0f, 6.0f}};
  rhonet::scale_to_unit_norm(f);
  rhonet::append_bias(f, 0.5f);
  BOOST_TEST(f.x(0, 2) == 6.0f / 7.0f);
  BOOST_TEST(f.x(0, 3) == 0.5f);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(batcher)

namespace {
std::vector<std::vector<std::size_t>> epochs_of(rhonet::batcher<double>& b, int epochs) {
  std::vector<std::vector<std::size_t>> out;
  rhonet::matrix<double> x, y;
  for (int e = 0; e < epochs; ++e) {
    std::vector<std::size_t> order;
    while (std::size_t n = b.next(x, y)) {
      BOOST_TEST(b.indices().size() == n);
      order.insert(order.end(), b.indices().begin(), b.indices().end());
    }
    out.push_back(order);
  }
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(deterministic_by_seed) {
  const auto d = toy({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2});
  rhonet::batcher<double> a(d, {.batch_size = 4, .seed = 42});
  rhonet::batcher<double> b(d, {.batch_size = 4, .seed = 42});
  rhonet::batcher<double> c(d, {.batch_size = 4, .seed = 43});
  const auto ea = epochs_of(a, 3);
  BOOST_TEST((ea == epochs_of(b, 3)));
  BOOST_TEST((ea != epochs_of(c, 3)));
  BOOST_TEST((ea[0] != ea[1]));  // reshuffled each epoch
  BOOST_TEST((ea[1] != ea[2]));
  // std::mt19937_64 is fully specified and the shuffle is our own: pinned across platforms.
  BOOST_TEST(ea[0] == std::vector<std::size_t>({10, 6, 3, 12, 11, 0, 7, 4, 5, 2, 9, 8, 1}),
             boost::test_tools::per_element());

  a.reset();
  BOOST_TEST((epochs_of(a, 3) == ea));
  BOOST_TEST(a.epoch() == 3u);
}

BOOST_AUTO_TEST_CASE(every_sample_once_per_epoch) {
  const auto d = toy({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  rhonet::batcher<double> b(d, {.batch_size = 3, .seed = 7});
  BOOST_TEST(b.batches_per_epoch() == 4u);
  rhonet::matrix<double> x, y;
  for (int e = 0; e < 3; ++e) {
    std::vector<int> seen(10, 0);
    std::vector<std::size_t> sizes;
    while (std::size_t n = b.next(x, y)) {
      sizes.push_back(n);
      BOOST_REQUIRE(x.shape()[0] == n);
      BOOST_REQUIRE(y.shape()[0] == n);
      BOOST_TEST(x.shape()[1] == 3u);
      BOOST_TEST(y.shape()[1] == 10u);
      for (std::size_t r = 0; r < n; ++r) {
        const std::size_t i = b.indices()[r];
        ++seen[i];
        BOOST_TEST(x(r, 1) == static_cast<double>(i));                  // the row of sample i
        BOOST_TEST(y(r, static_cast<std::size_t>(d.label[i])) == 1.0);  // and its target
      }
    }
    BOOST_TEST(sizes == std::vector<std::size_t>({3, 3, 3, 1}), boost::test_tools::per_element());
    BOOST_TEST(seen == std::vector<int>(10, 1), boost::test_tools::per_element());
    BOOST_TEST(b.epoch() == static_cast<std::size_t>(e + 1));
  }
}

BOOST_AUTO_TEST_CASE(no_shuffle_and_drop_last) {
  const auto d = toy({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  rhonet::batcher<double> b(d, {.batch_size = 4, .shuffle = false, .drop_last = true});
  BOOST_TEST(b.batches_per_epoch() == 2u);
  const auto e = epochs_of(b, 2);
  BOOST_TEST(e[0] == std::vector<std::size_t>({0, 1, 2, 3, 4, 5, 6, 7}),
             boost::test_tools::per_element());
  BOOST_TEST((e[1] == e[0]));

  rhonet::batcher<double> keep(d, {.batch_size = 4, .shuffle = false});
  BOOST_TEST(keep.batches_per_epoch() == 3u);
  BOOST_TEST(epochs_of(keep, 1)[0] == std::vector<std::size_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}),
             boost::test_tools::per_element());

  BOOST_CHECK_THROW(rhonet::batcher<double>(d, {.batch_size = 0}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(no_reallocation_after_first_batch) {
  const auto d = toy({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1});
  for (bool drop_last : {false, true}) {
    BOOST_TEST_CONTEXT("drop_last " << drop_last) {
      // 12 = 3 x 4 exactly; with drop_last a batch size of 5 leaves no partial batch either.
      rhonet::batcher<double> b(
          d, {.batch_size = drop_last ? 5u : 4u, .seed = 1, .drop_last = drop_last});
      rhonet::matrix<double> x, y;
      BOOST_REQUIRE(b.next(x, y) > 0);
      const double* px = x.data();
      const double* py = y.data();
      for (int step = 0; step < 20; ++step) {
        b.next(x, y);  // across epoch ends too
        BOOST_TEST(x.data() == px);
        BOOST_TEST(y.data() == py);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(rows_and_targets)

BOOST_AUTO_TEST_CASE(one_hot_codes_and_errors) {
  const std::vector<int> labels = {2, 0, 1, 2};
  const auto t = rhonet::one_hot<float>(labels, 3);
  BOOST_REQUIRE(t.shape()[0] == 4u);
  BOOST_REQUIRE(t.shape()[1] == 3u);
  for (std::size_t n = 0; n < 4; ++n)
    for (std::size_t c = 0; c < 3; ++c) BOOST_TEST(t(n, c) == (int(c) == labels[n] ? 1.f : 0.f));
  BOOST_CHECK_EXCEPTION(rhonet::one_hot<float>(std::vector<int>{0, 3}, 3), std::invalid_argument,
                        message_with("label 3 of row 1 is outside [0, 3)"));
  // A binary task's +-1 targets back to one output per class.
  auto task = rhonet::make_binary_task(toy({2, 5, 1, 5, 2}), 2, 5);
  rhonet::set_one_hot_targets(task);
  BOOST_TEST(task.outputs() == 10u);
  BOOST_TEST(task.target(1, 5) == 1.0);
  BOOST_TEST(task.target(1, 2) == 0.0);
}

BOOST_AUTO_TEST_CASE(subset_and_head_carry_every_field) {
  const auto d = toy({0, 1, 2, 3, 4, 5});
  const std::vector<std::size_t> rows = {4, 1, 4};
  const auto s = rhonet::subset(d, rows);
  BOOST_TEST(s.size() == 3u);
  BOOST_TEST(s.label == std::vector<int>({4, 1, 4}), boost::test_tools::per_element());
  for (std::size_t r = 0; r < 3; ++r) {
    BOOST_TEST(s.x(r, 2) == double(rows[r]));
    BOOST_TEST(s.target(r, std::size_t(s.label[r])) == 1.0);
  }
  BOOST_TEST(s.width == d.width);
  BOOST_TEST(s.classes == d.classes);
  BOOST_TEST(s.source == "toy[3 of 6 rows]");
  BOOST_CHECK_EXCEPTION(rhonet::subset(d, std::vector<std::size_t>{0, 6}), std::invalid_argument,
                        message_with("row 6 (entry 1) is outside [0, 6)"));
  const auto h = rhonet::head(d, 4);
  BOOST_TEST(h.label == std::vector<int>({0, 1, 2, 3}), boost::test_tools::per_element());
  BOOST_TEST(rhonet::head(d, 100).size() == 6u);
}

BOOST_AUTO_TEST_CASE(shuffle_and_split_are_seeded_permutations) {
  std::vector<int> labels(40);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = int(i % 10);
  const auto d = toy(labels);
  auto a = d, b = d, c = d;
  rhonet::shuffle(a, 5);
  rhonet::shuffle(b, 5);
  rhonet::shuffle(c, 6);
  BOOST_TEST((a.x == b.x));
  BOOST_TEST((a.x != c.x));
  BOOST_TEST((a.x != d.x));
  // A permutation: every row once, its label and target still its own.
  std::vector<int> seen(40, 0);
  for (std::size_t r = 0; r < 40; ++r) {
    const std::size_t i = std::size_t(a.x(r, 0));
    ++seen[i];
    BOOST_TEST(a.label[r] == labels[i]);
    BOOST_TEST(a.target(r, std::size_t(labels[i])) == 1.0);
  }
  BOOST_TEST(seen == std::vector<int>(40, 1), boost::test_tools::per_element());

  const auto [train, val] = rhonet::random_split(d, 30, 5);
  BOOST_TEST(train.size() == 30u);
  BOOST_TEST(val.size() == 10u);
  // The same permutation as shuffle with that seed, cut in two.
  for (std::size_t r = 0; r < 40; ++r)
    BOOST_TEST((r < 30 ? train.x(r, 0) : val.x(r - 30, 0)) == a.x(r, 0));
  BOOST_CHECK_EXCEPTION(rhonet::random_split(d, 41, 5), std::invalid_argument,
                        message_with("first part of 41 rows, but the dataset has 40"));
}

BOOST_AUTO_TEST_CASE(channel_stats_json_round_trip_and_errors) {
  const rhonet::channel_stats<float> s{{0.25f, -1.5f}, {2.f, 0.f}};
  const nlohmann::json j = s;
  BOOST_TEST(j.dump() == R"({"mean":[0.25,-1.5],"stddev":[2.0,0.0]})");
  const auto back = j.get<rhonet::channel_stats<float>>();
  BOOST_TEST(back.mean == s.mean, boost::test_tools::per_element());
  BOOST_TEST(back.stddev == s.stddev, boost::test_tools::per_element());

  temp_dir dir;
  const fs::path p = dir.path / "stats.json";
  rhonet::save_channel_stats(p, s);
  BOOST_TEST(rhonet::load_channel_stats<float>(p).stddev == s.stddev, boost::test_tools::per_element());
  const auto bad = [&](const std::string& text, const std::string& part) {
    std::ofstream(p) << text;
    BOOST_CHECK_EXCEPTION(rhonet::load_channel_stats<float>(p), rhonet::data_error,
                          error_with({p.string(), part}));
  };
  bad(R"({"mean": [1, 2], "stddev": [1]})", "2 means and 1 deviations");
  bad(R"({"mean": [1], "stddev": [-1]})", "stddev[0]: expected a finite non-negative number, found -1");
  bad(R"({"mean": [1]})", "an array field 'stddev'");
  bad(R"({"mean": [1], )", "JSON");
  BOOST_CHECK_THROW(rhonet::load_channel_stats<float>(dir.path / "missing.json"), rhonet::data_error);
}

// Raw rows are standardised exactly as the dataset they came from.
BOOST_AUTO_TEST_CASE(standardise_raw_rows_like_the_dataset) {
  rhonet::dataset<double> d;
  d.channels = 2;
  d.height = 1;
  d.width = 3;
  d.source = "two";
  d.x = {{1, 2, 3, 10, 20, 30}, {4, 5, 6, 40, 50, 60}};
  d.label = {0, 1};
  d.target = rhonet::matrix<double>::from_shape({2, 2});
  const auto s = rhonet::channel_statistics(d);
  rhonet::matrix<double> one = {{4, 5, 6, 40, 50, 60}};
  rhonet::standardise(one, s);
  rhonet::standardise(d, s);
  for (std::size_t j = 0; j < 6; ++j) BOOST_TEST(one(0, j) == d.x(1, j));
  rhonet::matrix<double> odd = rhonet::matrix<double>::from_shape({1, 5});
  BOOST_CHECK_EXCEPTION(rhonet::standardise(odd, s), std::invalid_argument, message_with("rows of 5 values"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(augmentation)

namespace {
// n images of C x H x W whose pixel values are all distinct and positive (1 + a global
// index), so that a crop offset and a flip are recognisable; with an optional bias column.
rhonet::dataset<double> images(std::size_t n, std::size_t C, std::size_t H, std::size_t W, bool bias = false) {
  rhonet::dataset<double> d;
  d.channels = C;
  d.height = H;
  d.width = W;
  d.classes = 2;
  d.source = "images";
  const std::size_t px = C * H * W, cols = px + (bias ? 1 : 0);
  d.x = rhonet::matrix<double>::from_shape({n, cols});
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < px; ++k) d.x(i, k) = double(1 + i * px + k);
    if (bias) d.x(i, px) = -7;
  }
  d.label.assign(n, 0);
  d.target = rhonet::matrix<double>::from_shape({n, 1});
  d.target.fill(1);
  return d;
}

// The image `src` (C x H x W) shifted by (dy - P, dx - P) with zero fill, then flipped.
std::vector<double> transformed(const double* src, std::size_t C, std::size_t H, std::size_t W, std::size_t P,
                                std::size_t dy, std::size_t dx, bool flip) {
  std::vector<double> out(C * H * W, 0.0);
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t w = 0; w < W; ++w) {
        const long sh = long(h + dy) - long(P), sw = long((flip ? W - 1 - w : w) + dx) - long(P);
        if (sh >= 0 && sh < long(H) && sw >= 0 && sw < long(W))
          out[(c * H + h) * W + w] = src[(c * H + std::size_t(sh)) * W + std::size_t(sw)];
      }
  return out;
}

// Which (dy, dx, flip) makes row r of the batch from its source image; (-1, -1, -1) if none.
std::tuple<int, int, int> find_transform(const rhonet::dataset<double>& d, const rhonet::matrix<double>& x,
                                         std::size_t r, std::size_t src_row, std::size_t P) {
  const std::size_t C = d.channels, H = d.height, W = d.width, px = C * H * W;
  const std::vector<double> got(x.data() + r * x.shape()[1], x.data() + r * x.shape()[1] + px);
  for (std::size_t dy = 0; dy <= 2 * P; ++dy)
    for (std::size_t dx = 0; dx <= 2 * P; ++dx)
      for (int flip = 0; flip < 2; ++flip)
        if (transformed(d.x.data() + src_row * d.features(), C, H, W, P, dy, dx, flip) == got)
          return {int(dy), int(dx), flip};
  return {-1, -1, -1};
}
}  // namespace

BOOST_AUTO_TEST_CASE(off_by_default_and_identity_when_off) {
  const auto d = images(5, 2, 3, 4);
  rhonet::batcher<double> b(d, {.batch_size = 5, .seed = 3});
  rhonet::matrix<double> x, y;
  b.next(x, y);
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t k = 0; k < d.features(); ++k) BOOST_TEST(x(r, k) == d.x(b.indices()[r], k));
}

BOOST_AUTO_TEST_CASE(crop_and_flip_are_shifts_and_mirrors_of_the_source) {
  const std::size_t P = 2;
  const auto d = images(64, 2, 5, 6, /*bias=*/true);
  rhonet::batcher<double> b(d, {.batch_size = 16, .seed = 9, .augment = {.crop_padding = P, .horizontal_flip = true}});
  rhonet::matrix<double> x, y;
  std::set<std::tuple<int, int, int>> seen;
  const auto order_plain = [&] {
    rhonet::batcher<double> plain(d, {.batch_size = 16, .seed = 9});
    std::vector<std::size_t> o;
    while (plain.next(x, y)) o.insert(o.end(), plain.indices().begin(), plain.indices().end());
    return o;
  }();
  std::vector<std::size_t> order;
  while (std::size_t n = b.next(x, y)) {
    for (std::size_t r = 0; r < n; ++r) {
      const auto t = find_transform(d, x, r, b.indices()[r], P);
      BOOST_TEST(std::get<0>(t) >= 0, "row " << r << " is no crop/flip of its source image");
      seen.insert(t);
      BOOST_TEST(x(r, d.features() - 1) == -7.0);  // the bias column is left alone
    }
    order.insert(order.end(), b.indices().begin(), b.indices().end());
  }
  // Both flips and several offsets occur in 64 draws; the shuffling order is the one
  // without augmentation.
  std::set<int> flips, dys;
  for (const auto& t : seen) {
    flips.insert(std::get<2>(t));
    dys.insert(std::get<0>(t));
  }
  BOOST_TEST(flips.size() == 2u);
  BOOST_TEST(dys.size() >= 4u);
  BOOST_TEST(order == order_plain, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(seeded_deterministic_and_in_the_state) {
  const auto d = images(20, 1, 4, 4);
  const rhonet::batcher_options opt{.batch_size = 8, .seed = 4, .augment = {.crop_padding = 1, .horizontal_flip = true}};
  const auto epoch = [](rhonet::batcher<double>& b) {
    rhonet::matrix<double> x, y;
    std::vector<double> all;
    while (b.next(x, y)) all.insert(all.end(), x.begin(), x.end());
    return all;
  };
  rhonet::batcher<double> a(d, opt), same(d, opt), other(d, {.batch_size = 8, .seed = 5, .augment = opt.augment});
  const auto e1 = epoch(a);
  BOOST_TEST((e1 == epoch(same)));
  BOOST_TEST((e1 != epoch(other)));
  // Saved between epochs, restored into a fresh batcher: the next epoch is identical, crops
  // and flips included.
  const std::string s = a.state();
  BOOST_TEST(s.find(" augment ") != std::string::npos);
  const auto e2 = epoch(a);
  BOOST_TEST((e2 != e1));
  rhonet::batcher<double> restored(d, opt);
  restored.restore_state(s);
  BOOST_TEST((epoch(restored) == e2));
  a.reset();
  BOOST_TEST((epoch(a) == e1));
  // A state must match the batcher's augmentation setting.
  rhonet::batcher<double> plain(d, {.batch_size = 8, .seed = 4});
  BOOST_CHECK_EXCEPTION(plain.restore_state(s), std::invalid_argument,
                        message_with("a state with augmentation, for a batcher without it"));
  epoch(plain);
  BOOST_CHECK_EXCEPTION(restored.restore_state(plain.state()), std::invalid_argument,
                        message_with("a state without augmentation, for a batcher with it"));
}

BOOST_AUTO_TEST_CASE(refused_on_non_image_datasets) {
  auto flat = images(4, 1, 2, 2);
  flat.channels = flat.height = flat.width = 0;  // e.g. a table of features
  BOOST_CHECK_EXCEPTION(rhonet::batcher<double>(flat, {.augment = {.horizontal_flip = true}}),
                        std::invalid_argument, message_with("augmentation (crop_padding, horizontal_flip) needs an image"));
  auto mismatched = images(4, 1, 2, 2);
  mismatched.width = 3;
  BOOST_CHECK_THROW(rhonet::batcher<double>(mismatched, {.augment = {.crop_padding = 1}}), std::invalid_argument);
  BOOST_CHECK_NO_THROW(rhonet::batcher<double>(flat, {.batch_size = 2}));  // off: any dataset
}

BOOST_AUTO_TEST_SUITE_END()
