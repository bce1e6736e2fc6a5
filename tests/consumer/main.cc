// A program outside ckptdb's tree, built by tests/consumer/check.sh: saves one tensor into a new
// store in directory argv[1], restores it, and exits 0 only if the bytes came back unchanged.
#include <ckptdb/ckptdb.h>

#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s STORE_DIR\n", argv[0]);
    return 2;
  }
  auto store = ckptdb::Store::Open(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "consumer: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<float> weights(3000);
  std::iota(weights.begin(), weights.end(), 0.5f);
  const ckptdb::TensorRef ref{"w", ckptdb::DType::kF32, {30, 100}, weights.data(), weights.size() * sizeof(float)};
  ckptdb::SaveOptions options;
  options.step = 7;
  auto saved = (*store)->Save({&ref, 1}, options);
  if (!saved.ok()) {
    std::fprintf(stderr, "consumer: %s\n", saved.status().ToString().c_str());
    return 1;
  }
  auto restored = (*store)->Restore(ckptdb::Selector::Step(7));
  if (!restored.ok()) {
    std::fprintf(stderr, "consumer: %s\n", restored.status().ToString().c_str());
    return 1;
  }
  if (restored->size() != 1 || (*restored)[0].name != "w" || (*restored)[0].shape != ref.shape ||
      (*restored)[0].bytes.size() != ref.size_bytes ||
      std::memcmp((*restored)[0].bytes.data(), weights.data(), ref.size_bytes) != 0) {
    std::fprintf(stderr, "consumer: step 7 of %s did not restore the saved tensor\n", argv[1]);
    return 1;
  }
  std::printf("consumer: saved and restored %llu bytes of tensor w at step 7\n",
              static_cast<unsigned long long>(ref.size_bytes));
  return 0;
}
