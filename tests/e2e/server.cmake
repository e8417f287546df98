# dsinfer serve, driven by the official openai npm client (tests/e2e/openai-client/).
# The client is installed from the committed package-lock.json by a setup test.
find_program(DSINFER_NODE node)
find_program(DSINFER_NPM npm)
set(DSINFER_OPENAI_CLIENT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/openai-client)
if(DSINFER_NODE AND DSINFER_NPM)
  add_test(NAME e2e.server.npm_ci
    COMMAND sh -c "test -f node_modules/openai/package.json || ${DSINFER_NPM} ci --no-audit --no-fund"
    WORKING_DIRECTORY ${DSINFER_OPENAI_CLIENT})
  set_tests_properties(e2e.server.npm_ci PROPERTIES FIXTURES_SETUP openai_client LABELS "e2e" TIMEOUT 300)

  add_test(NAME e2e.server
    COMMAND ${DSINFER_NODE} --test --test-concurrency=1 server.test.mjs
    WORKING_DIRECTORY ${DSINFER_OPENAI_CLIENT})
  set_tests_properties(e2e.server PROPERTIES FIXTURES_REQUIRED openai_client LABELS "e2e"
    TIMEOUT 600 ENVIRONMENT "DSINFER=$<TARGET_FILE:dsinfer>;DSINFER_PYTHON=${DSINFER_PYTHON}")

  # 60 s soak: 8 clients with valid, over-length and malformed requests (not in the default run).
  add_test(NAME e2e.server_soak
    COMMAND ${DSINFER_NODE} soak.mjs --seconds 60
    WORKING_DIRECTORY ${DSINFER_OPENAI_CLIENT})
  set_tests_properties(e2e.server_soak PROPERTIES FIXTURES_REQUIRED openai_client
    LABELS "e2e;slow" TIMEOUT 400 ENVIRONMENT "DSINFER=$<TARGET_FILE:dsinfer>;DSINFER_PYTHON=${DSINFER_PYTHON}")
else()
  message(STATUS "dsinfer: node/npm not found, the server e2e tests are skipped")
endif()
