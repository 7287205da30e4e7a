// The corrupt-input matrix: every defect class a downloaded or half-written file can have, in
// every format rhonet reads (IDX plain and gzip, CIFAR-10 batches, checkpoint manifests and
// npy files). Each case must raise rhonet::data_error whose message names the file, the byte
// offset, what was expected and what was found, exactly. The files are made here, in a
// scratch folder; the regression inputs found by fuzzing (docs/reliability.md) are here too.
#define BOOST_TEST_MODULE rhonet_corrupt_inputs
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <nlohmann/json.hpp>
#include <rhonet/core/error.hpp>
#include <rhonet/data/cifar10.hpp>
#include <rhonet/data/dataset.hpp>
#include <rhonet/data/idx.hpp>
#include <rhonet/init.hpp>
#include <rhonet/io/checkpoint.hpp>
#include <rhonet/io/npy.hpp>
#include <rhonet/layers/batch_norm.hpp>
#include <rhonet/layers/dense.hpp>
#include <rhonet/layers/input.hpp>
#include <rhonet/layers/relu.hpp>
#include <rhonet/network.hpp>

#include "support/reliability_support.hpp"

namespace fs = std::filesystem;
using bytes = std::string;
using rhonet_test::read_text;
using rhonet_test::write_text;

namespace {

using net_t = rhonet::network<rhonet::input<6>, rhonet::dense<5>, rhonet::batch_norm<>, rhonet::relu, rhonet::dense<1>>;
using other_net = rhonet::network<rhonet::input<6>, rhonet::dense<5>, rhonet::relu, rhonet::dense<1>>;

bytes be32(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}
bytes idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols, std::size_t pixels) {
  return be32(2051) + be32(n) + be32(rows) + be32(cols) + bytes(pixels, '\x07');
}
bytes idx_labels(const bytes& labels) { return be32(2049) + be32(std::uint32_t(labels.size())) + labels; }
bytes cifar_record(unsigned char label) { return bytes(1, char(label)) + bytes(3072, '\x20'); }

bytes gzip(const bytes& data) {
  z_stream zs{};
  BOOST_REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  bytes out(deflateBound(&zs, uLong(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = uInt(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  BOOST_REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// One row of the matrix: make the files in `dir`, then `load` must throw data_error for
// `file` at `offset` with the given expected and found texts (and any extra parts).
struct defect {
  std::string defect_class, format;
  std::function<void(const fs::path& dir)> make;
  std::function<void(const fs::path& dir)> load;
  std::string file;  // relative to dir
  std::uint64_t offset;
  std::string expected, found;
  std::vector<std::string> extra{};
};

// A valid checkpoint of net_t in dir/ckpt, and the file of its first weight.
void make_checkpoint(const fs::path& dir) {
  net_t net;
  rhonet::init_kaiming_normal(net.parameters(), 3);
  rhonet::save_checkpoint(dir / "ckpt", net);
}
void load_checkpoint(const fs::path& dir) {
  net_t net;
  rhonet::load_checkpoint(dir / "ckpt", net);
}
const char* weight_file = "ckpt/param-000-layer1.weight.npy";

std::vector<defect> matrix() {
  auto put = [](const char* name, bytes content) {
    return [name, content](const fs::path& dir) { write_text(dir / name, content); };
  };
  auto images = [](const char* name) {
    return [name](const fs::path& dir) { rhonet::read_idx_images(dir / name); };
  };
  auto labels = [](const char* name) {
    return [name](const fs::path& dir) { rhonet::read_idx_labels(dir / name, 10); };
  };
  auto cifar = [](const char* name) {
    return [name](const fs::path& dir) { rhonet::read_cifar10_batch(dir / name); };
  };
  auto none = [](const fs::path&) {};
  // Replaces the first weight's npy file of a valid checkpoint.
  auto ckpt_with_npy = [](bytes npy) {
    return [npy](const fs::path& dir) {
      make_checkpoint(dir);
      write_text(dir / weight_file, npy);
    };
  };
  const bytes good_npy_header = rhonet::npy::make_header("<f4", {5, 6});
  const bytes gz_images = gzip(idx_images(2, 3, 3, 18));
  bytes bad_deflate = gz_images;
  bad_deflate[10] = char(0x07);  // first deflate block header: final, type 3 (reserved)

  return {
      // Missing file.
      {"missing file", "idx", none, images("nope-idx3"), "nope-idx3", 0, "an existing file", "no such file"},
      {"missing file", "cifar10", none, cifar("data_batch_9.bin"), "data_batch_9.bin", 0,
       "a CIFAR-10 binary batch (data_batch_1..5.bin, test_batch.bin of the binary version)", "no such file"},
      {"missing file", "manifest", none, load_checkpoint, "ckpt/manifest.json", 0,
       "a checkpoint manifest (manifest.json)", "no such file or unreadable"},
      {"missing file", "npy",
       [](const fs::path& dir) {
         make_checkpoint(dir);
         fs::remove(dir / weight_file);
       },
       load_checkpoint, weight_file, 0,
       "the npy file of parameter 'layer1.weight' listed in ", "no such file or unreadable"},
      // Empty file.
      {"empty file", "idx", put("e-idx3", ""), images("e-idx3"), "e-idx3", 0, "IDX magic 2051 (images)",
       "an empty file"},
      {"empty file", "idx.gz", put("e-idx3.gz", gzip("")), images("e-idx3.gz"), "e-idx3.gz", 0,
       "IDX magic 2051 (images)", "no decompressed data", {"(decompressed)"}},
      {"empty file", "cifar10", put("e.bin", ""), cifar("e.bin"), "e.bin", 0, "at least one 3073-byte record",
       "an empty file"},
      {"empty file", "manifest", [](const fs::path& dir) { make_checkpoint(dir); write_text(dir / "ckpt/manifest.json", ""); },
       load_checkpoint, "ckpt/manifest.json", 0, "a checkpoint manifest in valid JSON", "an empty file"},
      {"empty file", "npy", ckpt_with_npy(""), load_checkpoint, weight_file, 0,
       "the npy magic 93 4e 55 4d 50 59 (\"\\x93NUMPY\")", "an empty file"},
      // Wrong magic.
      {"wrong magic", "idx", put("l-idx1", idx_labels("\x01\x02")), images("l-idx1"), "l-idx1", 0,
       "IDX magic 2051 (images)", "2049 (an IDX label file)"},
      {"wrong magic", "idx.gz", put("i-idx3.gz", gzip(idx_images(1, 1, 1, 1))), labels("i-idx3.gz"), "i-idx3.gz", 0,
       "IDX magic 2049 (labels)", "2051 (an IDX image file)", {"(decompressed)"}},
      {"wrong magic", "manifest",
       [](const fs::path& dir) {
         make_checkpoint(dir);
         auto m = nlohmann::json::parse(read_text(dir / "ckpt/manifest.json"));
         m["format"] = "tensorflow";
         write_text(dir / "ckpt/manifest.json", m.dump());
       },
       load_checkpoint, "ckpt/manifest.json", 0, "format \"rhonet-checkpoint\"", "\"tensorflow\""},
      {"wrong magic", "npy", ckpt_with_npy("PK\x03\x04zipzip"), load_checkpoint, weight_file, 0,
       "the npy magic 93 4e 55 4d 50 59", "50 4b 03 04 7a 69 70 7a"},
      // Truncated header.
      {"truncated header", "idx", put("h-idx3", idx_images(2, 2, 2, 8).substr(0, 11)), images("h-idx3"), "h-idx3", 11,
       "the 16-byte IDX header (images)", "end of data after 11 bytes"},
      {"truncated header", "idx.gz", put("h-idx1.gz", gzip(idx_labels("\x01").substr(0, 5))), labels("h-idx1.gz"),
       "h-idx1.gz", 5, "the 8-byte IDX header (labels)", "end of data after 5 bytes", {"(decompressed)"}},
      {"truncated header", "npy", ckpt_with_npy(good_npy_header.substr(0, 40)), load_checkpoint, weight_file, 40,
       "a header dict of 118 bytes", "end of file (truncated header)"},
      // Truncated data.
      {"truncated data", "idx", put("t-idx3", idx_images(3, 2, 2, 10)), images("t-idx3"), "t-idx3", 26,
       "28 bytes (16-byte header + 3 images of 2x2)", "26 bytes", {"(record 2)"}},
      {"truncated data", "idx.gz", put("t-idx1.gz", gzip(idx_labels("\x01\x02\x03").substr(0, 9))), labels("t-idx1.gz"),
       "t-idx1.gz", 9, "11 bytes (8-byte header + 3 labels)", "9 bytes", {"(decompressed, record 1)"}},
      {"truncated data", "cifar10", put("t.bin", cifar_record(1) + cifar_record(2).substr(0, 100)), cifar("t.bin"),
       "t.bin", 3173, "a size that is a multiple of 3073 (1 label + 3072 pixel bytes per record)",
       "3173 bytes = 1 records + 100 bytes"},
      {"truncated data", "npy", ckpt_with_npy(good_npy_header + bytes(100, '\0')), load_checkpoint, weight_file, 228,
       "120 bytes of data after the 128-byte header (file size 248) for parameter 'layer1.weight'",
       "end of file at 228 (truncated)"},
      // Dimension mismatch: the declared dimensions and the data disagree.
      {"dimension mismatch", "idx", put("d-idx3", idx_images(2, 2, 2, 12)), images("d-idx3"), "d-idx3", 24,
       "end of data after 2 images of 2x2", "4 trailing bytes"},
      {"dimension mismatch", "idx", put("z-idx3", idx_images(2, 0, 2, 0)), images("z-idx3"), "z-idx3", 8,
       "a positive row count", "0"},
      {"dimension mismatch", "idx.gz", put("d-idx3.gz", gzip(idx_images(1, 3, 3, 10))), images("d-idx3.gz"), "d-idx3.gz",
       25, "end of data after 1 images of 3x3", "1 trailing bytes", {"(decompressed)"}},
      // Label out of range.
      {"label out of range", "idx", put("r-idx1", idx_labels(bytes("\x01\x02\x0c\x00", 4))), labels("r-idx1"), "r-idx1",
       10, "label in [0, 9]", "12", {"(record 2)"}},
      {"label out of range", "idx.gz", put("r-idx1.gz", gzip(idx_labels("\x01\xff"))), labels("r-idx1.gz"), "r-idx1.gz",
       9, "label in [0, 9]", "255", {"(decompressed, record 1)"}},
      {"label out of range", "cifar10", put("r.bin", cifar_record(9) + cifar_record(10)), cifar("r.bin"), "r.bin", 3073,
       "label in [0, 9]", "10", {"(record 1)"}},
      // Image/label count mismatch (Fashion-MNIST: the labels file is named).
      {"image/label count mismatch", "idx",
       [](const fs::path& dir) {
         write_text(dir / "train-images-idx3-ubyte", idx_images(3, 2, 2, 12));
         write_text(dir / "train-labels-idx1-ubyte.gz", gzip(idx_labels("\x01\x02")));
       },
       [](const fs::path& dir) { rhonet::load_fashion_mnist<float>(rhonet::split::train, dir); },
       "train-labels-idx1-ubyte.gz", 4, "3 labels, one per image in train-images-idx3-ubyte", "2 labels"},
      // Bad gzip stream.
      {"bad gzip stream", "idx.gz", put("b-idx3.gz", bad_deflate), images("b-idx3.gz"), "b-idx3.gz", 11,
       "a valid gzip stream", "invalid block type", {"(compressed)"}},
      {"bad gzip stream", "idx.gz", put("c-idx3.gz", gz_images.substr(0, gz_images.size() - 6)), images("c-idx3.gz"),
       "c-idx3.gz", gz_images.size() - 6, "the rest of the gzip stream", "end of file", {"(compressed)"}},
      {"bad gzip stream", "cifar10", put("g.bin.gz", gzip(cifar_record(1)) + "junk"), cifar("g.bin.gz"), "g.bin.gz",
       gzip(cifar_record(1)).size(), "end of file after the gzip stream", "4 trailing bytes", {"(compressed)"}},
      // Not a regular file: refused by type before it is opened for reading (a FIFO would
      // block in open, a device would never end).
      {"not a regular file", "idx",
       [](const fs::path& dir) { BOOST_REQUIRE(::mkfifo((dir / "f-idx3").c_str(), 0600) == 0); },
       images("f-idx3"), "f-idx3", 0, "a regular file", "a FIFO (named pipe)"},
      {"not a regular file", "cifar10", [](const fs::path& dir) { fs::create_symlink("/dev/zero", dir / "z.bin"); },
       cifar("z.bin"), "z.bin", 0, "a regular file", "a character device"},
      // Gzip bomb: a small .gz that inflates far beyond what the format allows; decompression
      // stops at the size the IDX header states (plus 4 KiB), or at 10000 CIFAR-10 records.
      {"gzip bomb", "idx.gz", put("bomb-idx3.gz", gzip(idx_images(1, 28, 28, 784) + bytes(32 << 20, '\0'))),
       images("bomb-idx3.gz"), "bomb-idx3.gz", 800, "end of data after 1 images of 28x28",
       "4096 trailing bytes (and more: decompression stopped there)", {"(decompressed)"}},
      {"gzip bomb", "idx.gz", put("bomb-idx1.gz", gzip(idx_labels("\x01\x02\x03") + bytes(32 << 20, '\0'))),
       labels("bomb-idx1.gz"), "bomb-idx1.gz", 11, "end of data after 3 labels",
       "4096 trailing bytes (and more: decompression stopped there)", {"(decompressed)"}},
      {"gzip bomb", "cifar10", put("bomb.bin.gz", gzip(bytes(10001 * 3073, '\0'))), cifar("bomb.bin.gz"),
       "bomb.bin.gz", 10000 * 3073, "end of data after at most 10000 records",
       "more decompressed data (decompression stopped there)", {"(decompressed)"}},
      // Train and test images of different sizes: found when the second file is read.
      {"train/test image shape mismatch", "idx",
       [](const fs::path& dir) {
         write_text(dir / "t10k-images-idx3-ubyte", idx_images(2, 2, 2, 8));
         write_text(dir / "t10k-labels-idx1-ubyte", idx_labels("\x01\x02"));
         write_text(dir / "train-images-idx3-ubyte.gz", gzip(idx_images(1, 3, 3, 9)));
         write_text(dir / "train-labels-idx1-ubyte", idx_labels("\x01"));
       },
       [](const fs::path& dir) { rhonet::load_fashion_mnist_splits<float>(dir); }, "train-images-idx3-ubyte.gz", 8,
       "images of 2x2 like those of ", "images of 3x3", {"t10k-images-idx3-ubyte"}},
      // A manifest for another network.
      {"manifest for another network", "manifest",
       [](const fs::path& dir) {
         other_net other;
         rhonet::save_checkpoint(dir / "ckpt", other);
       },
       load_checkpoint, "ckpt/manifest.json", 0, "a checkpoint of the network being loaded, " + net_t::signature(),
       "a checkpoint of " + other_net::signature()},
      // npy with the wrong dtype or shape.
      {"npy wrong dtype", "npy", ckpt_with_npy(rhonet::npy::make_header("<f8", {5, 6}) + bytes(240, '\0')),
       load_checkpoint, weight_file, 10, "dtype '<f4' for parameter 'layer1.weight'", "dtype '<f8'", {"(npy header)"}},
      {"npy wrong shape", "npy", ckpt_with_npy(rhonet::npy::make_header("<f4", {6, 5}) + bytes(120, '\0')),
       load_checkpoint, weight_file, 10, "shape (5, 6) for parameter 'layer1.weight'", "shape (6, 5)",
       {"(npy header)"}},
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_defect_class_names_file_position_and_expectation) {
  ::alarm(120);  // a reader that blocks (on a FIFO) ends the test instead of hanging it
  std::set<std::string> classes;
  for (const defect& d : matrix()) {
    BOOST_TEST_CONTEXT(d.defect_class << " [" << d.format << "]") {
      rhonet_test::scratch dir("corrupt");
      d.make(dir.path);
      const std::string file = (dir.path / d.file).string();
      try {
        d.load(dir.path);
        BOOST_ERROR("no data_error");
      } catch (const rhonet::data_error& e) {
        const std::string what = e.what();
        BOOST_TEST_MESSAGE(what);
        BOOST_TEST(e.file() == file);
        BOOST_TEST(e.position() == d.offset);
        BOOST_TEST(what.rfind(file + ": at byte offset " + std::to_string(d.offset), 0) == 0u, what);
        BOOST_TEST(e.expected().rfind(d.expected, 0) == 0u, "expected: " << e.expected());
        BOOST_TEST(e.found().rfind(d.found, 0) == 0u, "found: " << e.found());
        BOOST_TEST(what.find("expected " + d.expected) != std::string::npos, what);
        BOOST_TEST(what.find("found " + d.found) != std::string::npos, what);
        for (const std::string& part : d.extra) BOOST_TEST(what.find(part) != std::string::npos, what);
      }
      classes.insert(d.defect_class);
    }
  }
  BOOST_TEST(classes.size() == 15u);  // npy dtype and shape counted apart
  ::alarm(0);
}

// A FIFO is refused at once, not after a writer appears (SIGALRM ends the test if it blocks).
BOOST_AUTO_TEST_CASE(fifo_is_refused_without_blocking) {
  rhonet_test::scratch dir("fifo");
  const fs::path fifo = dir.path / "train-images-idx3-ubyte";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  write_text(dir.path / "train-labels-idx1-ubyte", idx_labels("\x01"));
  ::alarm(10);
  BOOST_CHECK_EXCEPTION(rhonet::read_idx_images(fifo), rhonet::data_error,
                        [&](const rhonet::data_error& e) { return e.file() == fifo.string(); });
  BOOST_CHECK_EXCEPTION(rhonet::load_fashion_mnist<float>(rhonet::split::train, dir.path), rhonet::data_error,
                        [&](const rhonet::data_error& e) { return e.file() == fifo.string(); });
  ::alarm(0);
}

// A header that states more than max_decompressed_bytes (here a lower bound, to keep the
// test small) is refused once decompression reaches the bound, naming the header.
BOOST_AUTO_TEST_CASE(header_stating_more_than_the_bound) {
  const bytes gz = gzip(idx_images(65535, 65535, 65535, 0) + bytes(2 << 20, '\0'));
  const rhonet::content_bound small{1 << 20, rhonet::idx_content_bound.from_content};
  const auto f = rhonet::decode_file_bytes(std::vector<std::uint8_t>(gz.begin(), gz.end()), "huge.gz", small);
  BOOST_TEST(f.stopped);
  BOOST_TEST(f.bytes.size() == std::size_t{1} << 20);
  BOOST_CHECK_EXCEPTION(rhonet::parse_idx_images(f, "huge.gz"), rhonet::data_error, [](const rhonet::data_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    return e.position() == 4u && e.expected().rfind("at most 1048576 bytes of decompressed content", 0) == 0 &&
           e.found() == "a header stating 65535 images of 65535x65535";
  });
  // Without a bound from the content, the overall bound still holds.
  const auto g = rhonet::decode_file_bytes(std::vector<std::uint8_t>(gz.begin(), gz.end()), "huge.gz",
                                           rhonet::content_bound{1000});
  BOOST_TEST(g.stopped);
  BOOST_TEST(g.bytes.size() == 1000u);
}

// Inputs found by fuzzing (scripts/fuzz.sh), kept as regression cases.
BOOST_AUTO_TEST_CASE(fuzz_regressions) {
  rhonet_test::scratch dir("fuzzfound");
  // npy_header, crash-914bdf10: version 3.0 reads a 4-byte header length; the buffer held 10
  // bytes, so bytes 10 and 11 were written past it (a stack overflow under ASan).
  const bytes crash_914bdf10("\x93NUMPY\x03\x00\x00\x33\x00\x09\x00\x00\x00\x01", 16);
  make_checkpoint(dir.path);
  write_text(dir.path / weight_file, crash_914bdf10);
  const std::string file = (dir.path / weight_file).string();
  BOOST_CHECK_EXCEPTION(load_checkpoint(dir.path), rhonet::data_error, [&](const rhonet::data_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    return e.file() == file && e.position() == 8u && e.expected() == "a header length below 16 MiB" &&
           e.found() == std::to_string(0x09003300u);
  });
  // checkpoint, crash-a6943b25: a manifest that is one number of 318 digits made nlohmann::json
  // throw out_of_range (not parse_error), which escaped as an unknown exception.
  const bytes crash_a6943b25 = bytes(34, '2') + bytes(44, '0') + "2" + bytes(239, '0');
  make_checkpoint(dir.path);
  write_text(dir.path / "ckpt/manifest.json", crash_a6943b25);
  BOOST_CHECK_EXCEPTION(load_checkpoint(dir.path), rhonet::data_error, [&](const rhonet::data_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    return e.file() == (dir.path / "ckpt/manifest.json").string() && e.position() == 0u &&
           e.expected() == "a checkpoint manifest in valid JSON" &&
           e.found().find("number overflow") != std::string::npos;
  });
  make_checkpoint(dir.path);

  // ... while a valid version 2.0 file (4-byte length) loads.
  net_t saved;
  rhonet::init_kaiming_normal(saved.parameters(), 3);  // what make_checkpoint saved
  const auto& w = saved.parameters()[0]->value;
  bytes v1 = rhonet::npy::make_header("<f4", {5, 6});
  const std::size_t hlen = v1.size() - 10;
  bytes v2 = bytes("\x93NUMPY\x02\x00", 8) + char(hlen & 0xff) + char(hlen >> 8) + bytes(2, '\0') + v1.substr(10) +
             bytes(reinterpret_cast<const char*>(w.data()), w.size() * sizeof(float));
  write_text(dir.path / weight_file, v2);
  net_t net;
  rhonet::load_checkpoint(dir.path / "ckpt", net);
  BOOST_TEST(std::memcmp(net.parameters()[0]->value.data(), w.data(), w.size() * sizeof(float)) == 0);
}
