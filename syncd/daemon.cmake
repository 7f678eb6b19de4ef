# The fieldsyncd executable: config, API, sync rules, stores, on top of fsy_net and fsy_pki.
add_library(fsy_syncd STATIC config.c api/api.c sync/push.c sync/pull.c store/sqlite.c)
target_include_directories(fsy_syncd PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(fsy_syncd PRIVATE _GNU_SOURCE)
target_link_libraries(fsy_syncd PUBLIC fsy_net fsy_pki fsy_core_internal SQLite::SQLite3 cjson
  ${MBEDCRYPTO_LIBRARY})

add_executable(fieldsyncd main.c)
target_compile_definitions(fieldsyncd PRIVATE _GNU_SOURCE)
target_link_libraries(fieldsyncd PRIVATE fsy_syncd)
install(TARGETS fieldsyncd RUNTIME DESTINATION bin)
