# The fieldsyncd executable: config, API, sync rules, stores, on top of fsy_net and fsy_pki.
# The review page (syncd/web) is compiled in: no files to install, no front-end build step.
set(FSY_WEB_FILES ${CMAKE_CURRENT_SOURCE_DIR}/web/index.html ${CMAKE_CURRENT_SOURCE_DIR}/web/app.js
  ${CMAKE_CURRENT_SOURCE_DIR}/web/app.css)
string(REPLACE ";" "|" FSY_WEB_FILES_ARG "${FSY_WEB_FILES}")
add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/web_files.c
  COMMAND ${CMAKE_COMMAND} -DOUT=${CMAKE_CURRENT_BINARY_DIR}/web_files.c "-DFILES=${FSY_WEB_FILES_ARG}"
          -P ${CMAKE_CURRENT_SOURCE_DIR}/web/embed.cmake
  DEPENDS ${FSY_WEB_FILES} ${CMAKE_CURRENT_SOURCE_DIR}/web/embed.cmake
  COMMENT "Embedding the review page" VERBATIM)
# libpq for the PostgreSQL store (store/pg.c, pg_review.c, migrate.c).
find_package(PostgreSQL REQUIRED)
add_library(fsy_syncd STATIC config.c api/api.c sync/push.c sync/pull.c store/sqlite.c
  store/pg.c store/pg_review.c store/migrate.c
  review/review.c ${CMAKE_CURRENT_BINARY_DIR}/web_files.c)
target_include_directories(fsy_syncd PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(fsy_syncd PRIVATE _GNU_SOURCE)
target_link_libraries(fsy_syncd PUBLIC fsy_net fsy_pki fsy_core_internal SQLite::SQLite3 cjson
  PostgreSQL::PostgreSQL ${MBEDCRYPTO_LIBRARY})

add_executable(fieldsyncd main.c)
target_compile_definitions(fieldsyncd PRIVATE _GNU_SOURCE)
target_link_libraries(fieldsyncd PRIVATE fsy_syncd)
install(TARGETS fieldsyncd RUNTIME DESTINATION bin)
