// SafetensorsFile: mmap a safetensors file, validate it, hand out zero-copy (or copied) tensors.
#include "distill/io/safetensors.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "distill/util/errors.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; so must the host be");

namespace distill::io {

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw InputError(path, "cannot open: " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) throw InputError(path, "is a directory, expected a .safetensors file");
  if (!S_ISREG(st.st_mode)) throw InputError(path, "is not a regular file");

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(path, "cannot open: " + errno_text(errno));
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw InputError(path, "cannot stat: " + errno_text(err));
  }
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->size_ = static_cast<std::uint64_t>(st.st_size);
  if (file->size_ > 0) {  // mmap rejects length 0; parse_file reports the empty file below
    // Private and writable: writes into aliasing tensors go to copy-on-write pages, never the file.
    void* map = ::mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (map == MAP_FAILED) throw InputError(path, "cannot map into memory: " + errno_text(err));
    file->map_ = static_cast<std::uint8_t*>(map);
  } else {
    ::close(fd);
  }
  file->header_ = parse_file(file->map_, file->size_, path);
  for (std::size_t i = 0; i < file->header_.tensors.size(); ++i) file->index_[file->header_.tensors[i].name] = i;
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const std::uint8_t* SafetensorsFile::bytes(const TensorInfo& info) const {
  return map_ + header_.data_offset + info.begin;
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (!info) throw InputError(path_, "has no tensor '" + name + "'");
  std::uint8_t* data = map_ + header_.data_offset + info->begin;
  if (info->dtype == DType::kBool) {
    // LibTorch assumes bool bytes are 0 or 1; anything else is undefined behaviour downstream.
    for (std::uint64_t i = 0; i < info->nbytes(); ++i) {
      if (data[i] > 1) {
        throw InputError(path_, "tensor '" + name + "' has dtype BOOL but byte " + std::to_string(i) +
                                    " holds " + std::to_string(data[i]) + " (must be 0 or 1)");
      }
    }
  }
  const auto options = at::TensorOptions().dtype(to_scalar_type(info->dtype)).device(at::kCPU);
  if (reinterpret_cast<std::uintptr_t>(data) % dtype_size(info->dtype) == 0) {
    // Zero-copy: the tensor's deleter holds the file (and so the mapping) alive.
    std::shared_ptr<const SafetensorsFile> keep_alive = shared_from_this();
    return at::from_blob(data, info->shape, [keep_alive](void*) {}, options);
  }
  at::Tensor copy = at::empty(info->shape, options);
  if (info->nbytes() > 0) std::memcpy(copy.data_ptr(), data, info->nbytes());
  return copy;
}

at::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::kF64: return at::kDouble;
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    case DType::kI64: return at::kLong;
    case DType::kI32: return at::kInt;
    case DType::kI16: return at::kShort;
    case DType::kI8: return at::kChar;
    case DType::kU8: return at::kByte;
    case DType::kBool: return at::kBool;
  }
  return at::kFloat;  // unreachable: the switch covers every DType
}

DType to_dtype(at::ScalarType type) {
  switch (type) {
    case at::kDouble: return DType::kF64;
    case at::kFloat: return DType::kF32;
    case at::kHalf: return DType::kF16;
    case at::kBFloat16: return DType::kBF16;
    case at::kLong: return DType::kI64;
    case at::kInt: return DType::kI32;
    case at::kShort: return DType::kI16;
    case at::kChar: return DType::kI8;
    case at::kByte: return DType::kU8;
    case at::kBool: return DType::kBool;
    default:
      throw UsageError(std::string("tensors of type ") + c10::toString(type) +
                       " cannot be stored in safetensors by distill (supported: " + supported_dtype_names() + ")");
  }
}

}  // namespace distill::io
