/* asyncio_offsets.c: the offsets _asyncio publishes for debuggers.
 *
 * 3.14's _asyncio keeps the running task in a field of each thread state,
 * and publishes where (with the layout of its tasks) in a section of its
 * own file, ".AsyncioDebug", for tools such as `python -m asyncio ps` that
 * read another process's memory.  We read that section of our own
 * process: dladdr() names the file and load address of one of _asyncio's
 * functions, the file's ELF section headers give the section's address.
 * current_task.c checks what it finds against _asyncio's own functions
 * before trusting it. */
#include "pyasync.h"
#include "core/asyncio_offsets.h"

#if PY_VERSION_HEX >= 0x030E0000 && defined(__linux__) \
    && defined(__LP64__)

#include <dlfcn.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTION_NAME ".AsyncioDebug"

/* The layout 3.14's _asyncio writes (Py_AsyncioModuleDebugOffsets):
 * thirteen 64-bit numbers. */
enum {
    TASK_OBJECT_FIELDS = 7,
    INTERP_FIELDS = 2,
    THREAD_SIZE = TASK_OBJECT_FIELDS + INTERP_FIELDS,
    THREAD_RUNNING_LOOP,
    THREAD_RUNNING_TASK,
    THREAD_TASKS_HEAD,
    ALL_FIELDS
};

static int
read_at(FILE *f, long offset, void *buf, size_t size)
{
    return fseek(f, offset, SEEK_SET) == 0 && fread(buf, 1, size, f) == size;
}

/* The section's address as linked (sh_addr), its size, and whether the
 * file is position independent.  1 found, 0 not. */
static int
find_section(const char *path, uint64_t *addr, uint64_t *size, int *is_dyn)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }
    int found = 0;
    Elf64_Ehdr eh;
    Elf64_Shdr *sh = NULL;
    char *names = NULL;
    if (!read_at(f, 0, &eh, sizeof(eh))
        || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0
        || eh.e_ident[EI_CLASS] != ELFCLASS64
        || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0
        || eh.e_shstrndx >= eh.e_shnum) {
        goto done;
    }
    sh = calloc(eh.e_shnum, sizeof(Elf64_Shdr));
    if (sh == NULL || !read_at(f, (long)eh.e_shoff, sh,
                               eh.e_shnum * sizeof(Elf64_Shdr))) {
        goto done;
    }
    Elf64_Shdr *strtab = &sh[eh.e_shstrndx];
    names = malloc(strtab->sh_size + 1);
    if (names == NULL || !read_at(f, (long)strtab->sh_offset, names,
                                  strtab->sh_size)) {
        goto done;
    }
    names[strtab->sh_size] = '\0';
    for (int i = 0; i < eh.e_shnum; i++) {
        if (sh[i].sh_name < strtab->sh_size
            && strcmp(names + sh[i].sh_name, SECTION_NAME) == 0) {
            *addr = sh[i].sh_addr;
            *size = sh[i].sh_size;
            *is_dyn = eh.e_type == ET_DYN;
            found = 1;
            break;
        }
    }
done:
    free(names);
    free(sh);
    fclose(f);
    return found;
}

int
asyncio_offsets_read(PyObject *fn, asyncio_thread_offsets *out)
{
    if (!PyCFunction_Check(fn)) {
        return 0;
    }
    Dl_info info;
    void *code = (void *)PyCFunction_GET_FUNCTION(fn);
    if (dladdr(code, &info) == 0 || info.dli_fname == NULL) {
        return 0;
    }
    uint64_t addr, size;
    int is_dyn;
    if (!find_section(info.dli_fname, &addr, &size, &is_dyn)
        || size != ALL_FIELDS * sizeof(uint64_t)) {
        return 0;
    }
    const uint64_t *fields = (const uint64_t *)(
        (is_dyn ? (uintptr_t)info.dli_fbase : 0) + (uintptr_t)addr);
    out->thread_state_size = fields[THREAD_SIZE];
    out->running_loop = fields[THREAD_RUNNING_LOOP];
    out->running_task = fields[THREAD_RUNNING_TASK];
    return 1;
}

#elif PY_VERSION_HEX >= 0x030E0000

int
asyncio_offsets_read(PyObject *fn, asyncio_thread_offsets *out)
{
    (void)fn;
    (void)out;
    return 0;
}

#endif
