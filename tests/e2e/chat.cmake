add_test(NAME e2e.chat_tty COMMAND ${DSINFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/chat_tty_test.py $<TARGET_FILE:dsinfer>)
set_tests_properties(e2e.chat_tty PROPERTIES LABELS "e2e" TIMEOUT 300)
