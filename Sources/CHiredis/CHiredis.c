#include "CHiredis.h"

#include <pthread.h>
#include <stdlib.h>

/// hiredis's own functions make every object; only the array constructor is wrapped, to refuse huge counts.
static redisReplyObjectFunctions defaults;
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

typedef struct {
    redisReplyObjectFunctions functions;
    int max_elements;
} capped_functions;

static void read_defaults(void) {
    redisReader *reader = redisReaderCreate();
    if (reader == NULL) return;
    defaults = *reader->fn;
    redisReaderFree(reader);
}

static void *capped_array(const redisReadTask *task, int elements) {
    // The reader's privdata is the capped table (set below); a task carries it.
    const capped_functions *capped = (const capped_functions *)task->privdata;
    if (capped == NULL || elements < 0 || elements > capped->max_elements) return NULL;
    return defaults.createArray(task, elements);
}

redisReader *chiredis_reader_create(int max_elements) {
    pthread_once(&defaults_once, read_defaults);
    if (defaults.createArray == NULL) return NULL;
    capped_functions *capped = malloc(sizeof(capped_functions));
    if (capped == NULL) return NULL;
    capped->functions = defaults;
    capped->functions.createArray = capped_array;
    capped->max_elements = max_elements;
    redisReader *reader = redisReaderCreateWithFunctions(&capped->functions);
    if (reader == NULL) {
        free(capped);
        return NULL;
    }
    reader->privdata = capped;
    return reader;
}

void chiredis_reader_free(redisReader *reader) {
    if (reader == NULL) return;
    void *capped = reader->privdata;
    redisReaderFree(reader);
    free(capped);
}
