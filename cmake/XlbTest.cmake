# xlb_add_test(name SOURCES ... LABELS ... [LIBS ...] [NO_CTEST])
#   One gtest binary per call, registered with ctest under its labels, so
#   `ctest -L unit|bpf|integration` runs one tier. NO_CTEST builds the
#   binary only: another test runs it (tests/ipvs's binary inside the VM).
function(xlb_add_test name)
    cmake_parse_arguments(ARG "NO_CTEST" "TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
    add_executable(${name} ${ARG_SOURCES})
    target_link_libraries(${name} PRIVATE xlb GTest::gtest GTest::gtest_main ${ARG_LIBS})
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
    target_compile_definitions(${name} PRIVATE
        XLB_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
        XLB_BINARY_DIR="${CMAKE_BINARY_DIR}")
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    if(ARG_NO_CTEST)
        return()
    endif()
    add_test(NAME ${name} COMMAND ${name})
    if(NOT ARG_TIMEOUT)
        set(ARG_TIMEOUT 300)
    endif()
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# xlb_add_script_test(name COMMAND cmd args... LABELS ... [TIMEOUT s])
#   A test that is a script rather than a gtest binary, in the same tiers.
#   Exit status 77 means skipped.
function(xlb_add_script_test name)
    cmake_parse_arguments(ARG "" "TIMEOUT" "COMMAND;LABELS" ${ARGN})
    add_test(NAME ${name} COMMAND ${ARG_COMMAND})
    if(NOT ARG_TIMEOUT)
        set(ARG_TIMEOUT 300)
    endif()
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT} SKIP_RETURN_CODE 77)
endfunction()
