# moe_add_protos(TARGET a.proto ...): compiles the .proto files (paths relative
# to the source root, imported by that path, e.g. "model/config.proto") into
# TARGET; generated headers are included as "model/config.pb.h".
# FindProtobuf's protobuf_generate names its outputs relative to the current
# source folder, which breaks imports by root-relative path; so we call protoc
# ourselves with the source root as the only import path.
function(moe_add_protos target)
  set(generated)
  foreach(p ${ARGN})
    get_filename_component(dir ${p} DIRECTORY)
    get_filename_component(base ${p} NAME_WE)
    set(out ${PROJECT_BINARY_DIR}/${dir}/${base}.pb.cc ${PROJECT_BINARY_DIR}/${dir}/${base}.pb.h)
    add_custom_command(
      OUTPUT ${out}
      COMMAND protobuf::protoc --cpp_out=${PROJECT_BINARY_DIR} -I ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/${p}
      DEPENDS ${PROJECT_SOURCE_DIR}/${p} protobuf::protoc
      COMMENT "protoc ${p}" VERBATIM)
    list(APPEND generated ${out})
  endforeach()
  target_sources(${target} PRIVATE ${generated})
  target_include_directories(${target} PUBLIC ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
endfunction()

# moe_add_layer(NAME [PROTOS a.proto ...] [DEPS lib ...]): the library of one
# top-level folder, built from its *.cc (subfolders excluded) and its protos.
function(moe_add_layer name)
  cmake_parse_arguments(L "" "" "PROTOS;DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  add_library(${name} ${srcs})
  if(L_PROTOS)
    moe_add_protos(${name} ${L_PROTOS})
  endif()
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${MOE_WARNINGS} ${MOE_ARCH_FLAGS})
  target_link_libraries(${name} PUBLIC ${L_DEPS})
endfunction()
