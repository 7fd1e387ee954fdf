# The WebAssembly build (preset wasm-release, emscripten 3.1.6): flags every object shares, and the one
# third-party header library the engine needs.

# SIMD128 for the cpu kernels, pthreads for the cpu thread pool and for the engine thread that blocks on the GPU
# host (see src/wasm/host_channel.h), and C++ exceptions (the engine reports errors by throwing websd::Error;
# emscripten's default build aborts on the first throw). Native wasm exceptions (-fwasm-exceptions) would cost
# less, but Debian's emscripten 3.1.6 links them with the JS-exception C++ runtime when pthreads are on, and then
# no typed catch clause matches: keep -fexceptions until the toolchain moves.
add_compile_options(-msimd128 -pthread -fexceptions)
add_link_options(-pthread -fexceptions)

# nlohmann_json is header-only. Debian installs it under /usr/include, which must not be on the include path of a
# wasm build (glibc headers would shadow emscripten's libc), so expose only its own folder, through a link.
set(_websd_json_root "${CMAKE_BINARY_DIR}/third_party/include")
file(MAKE_DIRECTORY "${_websd_json_root}")
if(NOT EXISTS "${_websd_json_root}/nlohmann/json.hpp")
  if(NOT EXISTS /usr/include/nlohmann/json.hpp)
    message(FATAL_ERROR "websd: /usr/include/nlohmann/json.hpp not found (apt install nlohmann-json3-dev)")
  endif()
  file(CREATE_LINK /usr/include/nlohmann "${_websd_json_root}/nlohmann" SYMBOLIC)
endif()
add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
target_include_directories(nlohmann_json::nlohmann_json INTERFACE "${_websd_json_root}")

# Links `target` as a modularised emscripten module: `${target}.js` (a CommonJS factory named `export_name` that
# runs in pages, Workers and Node) beside `${target}.wasm`. Engine work runs on pthreads; the JS thread that loads
# the module stays free to serve the GPU and the file system (see src/wasm/host_channel.h). With pthreads the module
# already exports its Memory as Module.wasmMemory, which the host uses to reach the shared heap.
# Further C functions to export (beside those marked EMSCRIPTEN_KEEPALIVE) follow the name, without the '_'.
function(websd_wasm_module target export_name)
  set(exports _malloc _free)
  foreach(f ${ARGN})
    list(APPEND exports _${f})
  endforeach()
  list(JOIN exports "," exports)
  set_target_properties(${target} PROPERTIES SUFFIX ".js")
  target_link_options(${target} PRIVATE
    --no-entry
    -sMODULARIZE=1 -sEXPORT_NAME=${export_name}
    -sENVIRONMENT=web,worker,node
    -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB
    -sEXIT_RUNTIME=1
    -Wno-pthreads-mem-growth  # known: JS reads of the heap recheck its size; the engine itself is unaffected
    # One worker is ready at start for the engine thread; the cpu thread pool's workers are created on demand,
    # which is safe because the loading thread never blocks.
    -sPTHREAD_POOL_SIZE=1 -sPTHREAD_POOL_SIZE_STRICT=0
    -sDEFAULT_PTHREAD_STACK_SIZE=4MB
    -sEXPORTED_FUNCTIONS=${exports}
    -sEXPORTED_RUNTIME_METHODS=FS,UTF8ToString,stringToUTF8,lengthBytesUTF8
    -lnodefs.js    # Node: the host file system under /host
    -lworkerfs.js) # Workers: Files and Blobs (picked files, cached downloads) read in place, not copied
endfunction()
