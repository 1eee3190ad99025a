// fcmatch's CPU tensor allocator: 64-byte-aligned blocks carved out of plain malloc (see memory.py).
//
// PyTorch's default CPU allocator calls posix_memalign(64, n). glibc serves that from a free block only if the
// block has room for n plus the alignment, so the block a tensor frees is not reused for the next tensor of the
// same size unless free neighbours have merged into it, and the heap grows with holes. malloc(n + 88) reuses it. Each block keeps, just below the 64-byte
// aligned address it hands out, a check word, the pointer malloc returned and the size (for the profiler), so the
// data pointer is also the deleter's context: raw_allocate / raw_deallocate (oneDNN's path) work as with the
// default.
//
// oneDNN frees its blocks through whatever CPU allocator is current when it frees them, so blocks the default
// allocator made before this one was installed may reach this deleter: without the check word they are the
// default's, and go to free() as its deleter would send them. For the same reason the default allocator is never
// put back: it would hand this allocator's blocks to free().

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

namespace {

constexpr std::size_t kAlignment = 64;  // c10's gAlignment
constexpr std::size_t kHeader = 3 * sizeof(void*);  // check word, malloc's pointer and the size, below the data
constexpr std::size_t kCheck = 0x5a17c0de9e3779b9ULL;  // xor malloc's pointer: the check word
constexpr uint8_t kPriority = 1;  // above the default allocator's 0

std::atomic<int64_t> allocated{0};

void report(void* data, int64_t bytes) {
  if (c10::memoryProfilingEnabled()) {
    int64_t total = allocated.fetch_add(bytes) + bytes;
    c10::reportMemoryUsageToProfiler(data, bytes, static_cast<std::size_t>(total), 0,
                                      c10::Device(c10::DeviceType::CPU));
  }
}

void release(void* data) {
  if (data == nullptr) {
    return;
  }
  auto header = static_cast<std::size_t*>(data);
  auto raw = header[-2];
  auto address = reinterpret_cast<std::size_t>(data);
  if (header[-3] != (kCheck ^ raw) || raw > address - kHeader || address - kHeader - raw >= kAlignment) {
    std::free(data);  // the default allocator's block (posix_memalign)
    return;
  }
  header[-3] = 0;
  report(data, -static_cast<int64_t>(header[-1]));
  std::free(reinterpret_cast<void*>(raw));
}

struct MallocAllocator final : c10::Allocator {
  c10::DataPtr allocate(std::size_t bytes) override {
    c10::Device cpu(c10::DeviceType::CPU);
    if (bytes == 0) {
      return {nullptr, nullptr, &release, cpu};
    }
    void* raw = std::malloc(bytes + kAlignment + kHeader);
    TORCH_CHECK_WITH(OutOfMemoryError, raw != nullptr, "fcmatch CPU allocator: not enough memory: you tried to ",
                     "allocate ", bytes, " bytes.");
    auto address = (reinterpret_cast<std::uintptr_t>(raw) + kHeader + kAlignment - 1) & ~(kAlignment - 1);
    auto header = reinterpret_cast<std::size_t*>(address);
    header[-3] = kCheck ^ reinterpret_cast<std::size_t>(raw);
    header[-2] = reinterpret_cast<std::size_t>(raw);
    header[-1] = bytes;
    void* data = reinterpret_cast<void*>(address);
    report(data, static_cast<int64_t>(bytes));
    return {data, data, &release, cpu};
  }

  c10::DeleterFnPtr raw_deleter() const override {
    return &release;
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

MallocAllocator allocator;

}  // namespace

// Makes this the CPU allocator; returns 1 if it is now, 0 if an allocator of higher priority was set before.
extern "C" int fc_install_allocator() {
  if (c10::GetCPUAllocator() != &allocator) {
    c10::SetCPUAllocator(&allocator, kPriority);
  }
  return c10::GetCPUAllocator() == &allocator;
}

// Whether this allocator is the current CPU allocator.
extern "C" int fc_allocator_installed() {
  return c10::GetCPUAllocator() == &allocator;
}
