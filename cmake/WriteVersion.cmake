# cmake -P script: writes OUTPUT from INPUT with VERSION and the current git commit,
# touching OUTPUT only when its text changes (so nothing rebuilds needlessly).
set(NC_GIT_COMMIT "unknown")
if(GIT AND EXISTS ${SOURCE_DIR}/.git)
  execute_process(COMMAND ${GIT} rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE _commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(_rc EQUAL 0 AND _commit)
    set(NC_GIT_COMMIT ${_commit})
  endif()
endif()
configure_file(${INPUT} ${OUTPUT} @ONLY)
