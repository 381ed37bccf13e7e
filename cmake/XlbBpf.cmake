# xlb_bpf_object(NAME SOURCE [SKELETON] [INSTALL])
#   Compiles SOURCE with clang -target bpf into ${NAME}.bpf.o and, with
#   SKELETON, generates ${NAME}.skel.h with `bpftool gen skeleton ... name
#   ${NAME}_bpf`. Creates an INTERFACE target ${NAME}_skel whose include path
#   holds the skeleton. After libbpf-bootstrap's bpf_object().
#   INSTALL builds the object with `all` and installs it to lib/xlb (the
#   package ships it), so it no longer waits for a test to need it.
find_program(XLB_CLANG NAMES clang clang-14 REQUIRED)
find_program(XLB_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                OUTPUT_VARIABLE XLB_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT XLB_MULTIARCH)
    set(XLB_MULTIARCH x86_64-linux-gnu)
endif()

set(XLB_BPF_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${XLB_BPF_DIR})

function(xlb_bpf_object name source)
    cmake_parse_arguments(ARG "SKELETON;INSTALL" "" "DEPENDS" ${ARGN})
    set(obj ${XLB_BPF_DIR}/${name}.bpf.o)
    get_filename_component(src ${source} ABSOLUTE)
    file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/*.h)
    add_custom_command(
        OUTPUT ${obj}
        COMMAND ${XLB_CLANG} -target bpf -O2 -g -Wall -Werror
                -D__TARGET_ARCH_x86
                -I${CMAKE_SOURCE_DIR}/include -I${CMAKE_SOURCE_DIR}/bpf
                -idirafter /usr/include/${XLB_MULTIARCH}
                -c ${src} -o ${obj}
        DEPENDS ${src} ${bpf_headers} ${CMAKE_SOURCE_DIR}/include/xlb/abi.h ${ARG_DEPENDS}
        COMMENT "BPF ${name}.bpf.o"
        VERBATIM)
    set(outputs ${obj})
    if(ARG_SKELETON)
        set(skel ${XLB_BPF_DIR}/${name}.skel.h)
        add_custom_command(
            OUTPUT ${skel}
            COMMAND ${XLB_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
            DEPENDS ${obj}
            COMMENT "skeleton ${name}.skel.h"
            VERBATIM)
        list(APPEND outputs ${skel})
    endif()
    if(ARG_INSTALL)
        add_custom_target(${name}_bpf_obj ALL DEPENDS ${outputs})
        install(FILES ${obj} DESTINATION lib/xlb)
    else()
        add_custom_target(${name}_bpf_obj DEPENDS ${outputs})
    endif()
    add_library(${name}_skel INTERFACE)
    add_dependencies(${name}_skel ${name}_bpf_obj)
    target_include_directories(${name}_skel INTERFACE ${XLB_BPF_DIR})
endfunction()
