// train_multiclass: the trained model (train_multiclass.hpp).
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "train_multiclass.hpp"

using namespace rhonet;

namespace {
const std::vector<std::string> class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}  // namespace

confusion_matrix train_multiclass::evaluate_on(net_t& net, const dataset<float>& data) {
  confusion_matrix cm(10);
  batcher<float> b(data, {.batch_size = 500, .shuffle = false});
  matrix<float> x, y;
  while (std::size_t n = b.next(x, y))  // rows b.indices()[0] .. +n, in order
    cm.add(predict(net, x), std::span<const int>(data.label).subspan(b.indices()[0], n));
  return cm;
}

void train_multiclass::finish(net_t& net, const dataset<float>& test, const channel_stats<float>& stats,
                              const matrix<float>& raw_image, const std::string& out, const std::string& loss_name) {
  const confusion_matrix cm = evaluate_on(net, test);
  std::printf("test accuracy %.4f\nconfusion matrix (rows: true class, columns: predicted)\n%s", cm.accuracy(),
              cm.str(class_names).c_str());

  // Save the model for inference (weights, BN running statistics, each layer's settings and
  // the preprocessing of its inputs); load it into a fresh network and check that it
  // predicts exactly the same.
  const std::string model = out + "/model";
  save_model(net, model, preprocessing<float>{.standardise = stats});
  auto loaded = std::make_unique<net_t>();
  const std::optional<preprocessing<float>> pre = load_model(*loaded, model);
  if (!pre) throw std::runtime_error(model + ": no preprocessing recorded");
  const confusion_matrix again = evaluate_on(*loaded, test);
  std::printf("saved to %s and loaded back: test accuracy %.4f\n", model.c_str(), again.accuracy());
  if (again.correct() != cm.correct()) throw std::runtime_error("the loaded model predicts differently");

  // One raw image, as an application would get it: the saved preprocessing, then predict.
  const matrix<float> image = pre->apply(raw_image);
  const matrix<float>& scores = predict(*loaded, image);
  const std::size_t cls = argmax(scores)[0];
  std::printf("test image 0 (true class %s): predicted %s", class_names[std::size_t(test.label[0])].c_str(),
              class_names[cls].c_str());
  if (loss_name == "ce") std::printf(", probability %.3f", double(softmax(scores)(0, cls)));
  std::printf("\n");
}
