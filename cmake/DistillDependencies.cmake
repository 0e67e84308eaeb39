# Finds every third-party dependency and gathers them behind one INTERFACE target, distill::deps.
# Nothing is downloaded at configure time: scripts/setup.sh installs what is missing.

find_package(Threads REQUIRED)

# LibTorch: Debian's libtorch-dev (1.13, CPU) on dev/CI machines; on a GPU machine the LibTorch of
# the installed PyTorch (scripts/setup.sh passes torch.utils.cmake_prefix_path) or a downloaded
# archive via Torch_DIR / CMAKE_PREFIX_PATH.
find_package(Torch REQUIRED)
message(STATUS "distill: LibTorch ${Torch_VERSION} from ${Torch_DIR}")

find_package(nlohmann_json 3.9 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)

# sentencepiece and PCRE2: pkg-config where it exists, a plain header/library search otherwise.
find_package(PkgConfig)
function(distill_find_pc name module header library)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(${name} IMPORTED_TARGET ${module})
  endif()
  if(NOT TARGET PkgConfig::${name})
    find_path(${name}_INCLUDE_DIR ${header} REQUIRED)
    find_library(${name}_LIBRARY ${library} REQUIRED)
    add_library(PkgConfig::${name} INTERFACE IMPORTED GLOBAL)
    set_target_properties(PkgConfig::${name} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${${name}_INCLUDE_DIR}"
                                                        INTERFACE_LINK_LIBRARIES "${${name}_LIBRARY}")
  endif()
endfunction()
distill_find_pc(SENTENCEPIECE sentencepiece sentencepiece_processor.h sentencepiece)
distill_find_pc(PCRE2 libpcre2-8 pcre2.h pcre2-8)

add_library(distill_deps INTERFACE)
add_library(distill::deps ALIAS distill_deps)
# Torch's variables are plain lists, not an imported target with SYSTEM includes: mark them SYSTEM
# so -Wall -Wextra stay about our own code.
target_include_directories(distill_deps SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(distill_deps INTERFACE
  ${TORCH_LIBRARIES}
  nlohmann_json::nlohmann_json
  CLI11::CLI11
  spdlog::spdlog
  PkgConfig::PCRE2
  Threads::Threads
  ${CMAKE_DL_LIBS})
# libsentencepiece is deliberately not linked here. Debian's copy bundles and exports protobuf 3.14;
# Debian's LibTorch loads the system protobuf 3.21. In one symbol scope they bind to each other:
# a segfault before main() when sentencepiece comes first, protobuf's version abort as soon as
# sentencepiece runs when libprotobuf comes first. Only libdistill_spm.so links it, and distill
# dlopens that with RTLD_DEEPBIND (src/tokenizer/spm_shim/spm_shim.cpp).
# TORCH_CXX_FLAGS carries the _GLIBCXX_USE_CXX11_ABI setting LibTorch was built with.
separate_arguments(_distill_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(distill_deps INTERFACE ${_distill_torch_flags})

# CUDA-enabled LibTorch (the GPU machine's PyTorch): compile the CUDA-only code paths.
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(DISTILL_WITH_CUDA ON)
  target_compile_definitions(distill_deps INTERFACE DISTILL_WITH_CUDA=1)
  message(STATUS "distill: building with CUDA support")
else()
  set(DISTILL_WITH_CUDA OFF)
  message(STATUS "distill: building for CPU only")
endif()
