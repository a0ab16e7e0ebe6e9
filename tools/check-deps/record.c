// SPDX-License-Identifier: Apache-2.0
//
// libota_deps_record.so: an LD_PRELOAD library that records which files of
// the machine a test run really uses, so that tools/check-deps can map each
// one to the Debian package that owns it. `make test` preloads it into CTest
// and everything CTest starts, with OTA_DEPS_RECORD naming the log file.
//
// What it records, one tab-separated line per event, appended to the log
// with a single write(2) so that concurrent processes never interleave:
//   exe     <path>   the running program (/proc/self/exe), once per process
//   exec    <path>   a program this process starts (execve family and
//                    posix_spawn), as named, after a PATH search; and the
//                    interpreter named by its "#!" line, if any
//   open    <path>   a regular file opened under the system prefixes
//                    (/usr, /bin, /sbin, /lib*, /opt): headers read by a
//                    compiler a script runs, Python modules, data files
//   dlopen  <path>   a shared object loaded at run time
// followed by the recording process's executable, for the report.
//
// Contract: it changes no behaviour. Every hook calls the real function and
// returns its result and errno unchanged; records are best effort (a failed
// write is dropped). It allocates nothing (ASan, LeakSanitizer and
// fork-without-exec children see no difference) and writes through raw
// system calls so that its own I/O is never recorded.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char** environ;

enum { kLine = PATH_MAX + 512 };

static __thread int in_hook;  // our own calls (dlsym, realpath) are not recorded
static char self_exe[PATH_MAX];

static const char* log_path(void) {
  const char* p = getenv("OTA_DEPS_RECORD");
  return (p != NULL && *p == '/') ? p : NULL;
}

static size_t append(char* out, size_t at, const char* s) {
  size_t n = strlen(s);
  if (at + n >= kLine) n = kLine - 1 - at;
  memcpy(out + at, s, n);
  return at + n;
}

// Appends "<kind>\t<path>\t<self>\n" to the log in one write.
static void record(const char* kind, const char* path) {
  const char* log = log_path();
  if (log == NULL || path == NULL || *path == '\0') return;
  if (strchr(path, '\n') != NULL || strchr(path, '\t') != NULL) return;
  char line[kLine];
  size_t n = 0;
  n = append(line, n, kind);
  n = append(line, n, "\t");
  n = append(line, n, path);
  n = append(line, n, "\t");
  n = append(line, n, self_exe[0] ? self_exe : "?");
  n = append(line, n, "\n");
  int saved = errno;
  long fd = syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    (void)!syscall(SYS_write, (int)fd, line, n);
    syscall(SYS_close, (int)fd);
  }
  errno = saved;
}

// Absolute form of `path` (relative paths are taken from the working
// directory); false when it does not fit.
static int absolute(const char* path, char* out) {
  if (path[0] == '/') {
    if (strlen(path) >= PATH_MAX) return 0;
    strcpy(out, path);
    return 1;
  }
  if (syscall(SYS_getcwd, out, PATH_MAX) < 0) return 0;
  size_t n = strlen(out);
  if (n + 1 + strlen(path) >= PATH_MAX) return 0;
  out[n] = '/';
  strcpy(out + n + 1, path);
  return 1;
}

static int under_system_prefix(const char* p) {
  static const char* const prefixes[] = {"/usr/", "/bin/", "/sbin/", "/lib/",
                                         "/lib32/", "/lib64/", "/libx32/", "/opt/"};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; ++i)
    if (strncmp(p, prefixes[i], strlen(prefixes[i])) == 0) return 1;
  return 0;
}

// Records a successfully opened descriptor if it is a regular file under
// the system prefixes.
static void record_open(const char* path, int fd) {
  if (fd < 0 || path == NULL || in_hook) return;
  char abs[PATH_MAX];
  if (!absolute(path, abs) || !under_system_prefix(abs)) return;
  struct stat st;
  if (syscall(SYS_fstat, fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  record("open", abs);
}

// The interpreter of a "#!" script, if `file` is one.
static void record_interpreter(const char* file) {
  long fd = syscall(SYS_openat, AT_FDCWD, file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char head[256];
  long n = syscall(SYS_read, (int)fd, head, sizeof head - 1);
  syscall(SYS_close, (int)fd);
  if (n < 3 || head[0] != '#' || head[1] != '!') return;
  head[n] = '\0';
  char* p = head + 2;
  while (*p == ' ' || *p == '\t') ++p;
  char* end = p;
  while (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') ++end;
  *end = '\0';
  if (*p == '/') record("exec", p);
}

// A program started by path; tries of a PATH search that find nothing
// (Python's subprocess makes them itself) are not uses.
static void record_exec_path(const char* path) {
  char abs[PATH_MAX];
  struct stat st;
  if (path == NULL || !absolute(path, abs)) return;
  if (syscall(SYS_newfstatat, AT_FDCWD, abs, &st, 0) != 0 || !S_ISREG(st.st_mode)) return;
  record("exec", abs);
  record_interpreter(abs);
}

// execvp's search: the first executable regular file named `file` on PATH.
static void record_exec_search(const char* file) {
  if (file == NULL || *file == '\0') return;
  if (strchr(file, '/') != NULL) {
    record_exec_path(file);
    return;
  }
  const char* path = getenv("PATH");
  if (path == NULL) path = "/bin:/usr/bin";
  char candidate[PATH_MAX];
  for (const char* dir = path;; ) {
    const char* colon = strchr(dir, ':');
    size_t len = colon ? (size_t)(colon - dir) : strlen(dir);
    if (len == 0) len = 1, dir = ".";  // an empty entry is the working directory
    if (len + 1 + strlen(file) < PATH_MAX) {
      memcpy(candidate, dir, len);
      candidate[len] = '/';
      strcpy(candidate + len + 1, file);
      struct stat st;
      if (syscall(SYS_newfstatat, AT_FDCWD, candidate, &st, 0) == 0 && S_ISREG(st.st_mode) &&
          access(candidate, X_OK) == 0) {
        record_exec_path(candidate);
        return;
      }
    }
    if (colon == NULL) return;
    dir = colon + 1;
  }
}

#define REAL(name, type)                         \
  static type real_##name;                       \
  if (real_##name == NULL) {                     \
    in_hook = 1;                                 \
    real_##name = (type)dlsym(RTLD_NEXT, #name); \
    in_hook = 0;                                 \
  }

__attribute__((constructor)) static void on_load(void) {
  if (log_path() == NULL) return;
  long n = syscall(SYS_readlink, "/proc/self/exe", self_exe, sizeof self_exe - 1);
  self_exe[n > 0 ? n : 0] = '\0';
  if (n > 0) record("exe", self_exe);
}

// --- programs started --------------------------------------------------------

typedef int (*execve_fn)(const char*, char* const[], char* const[]);
typedef int (*execvpe_fn)(const char*, char* const[], char* const[]);
typedef int (*spawn_fn)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                        const posix_spawnattr_t*, char* const[], char* const[]);

int execve(const char* path, char* const argv[], char* const envp[]) {
  REAL(execve, execve_fn);
  record_exec_path(path);
  return real_execve(path, argv, envp);
}

int execv(const char* path, char* const argv[]) { return execve(path, argv, environ); }

int execvpe(const char* file, char* const argv[], char* const envp[]) {
  REAL(execvpe, execvpe_fn);
  record_exec_search(file);
  return real_execvpe(file, argv, envp);
}

int execvp(const char* file, char* const argv[]) { return execvpe(file, argv, environ); }

// The execl family collects its arguments and calls the v forms above.
#define COLLECT_ARGS(first, argv)                       \
  va_list ap;                                           \
  size_t argc = 1;                                      \
  va_start(ap, first);                                  \
  while (va_arg(ap, char*) != NULL) ++argc;             \
  va_end(ap);                                           \
  char* argv[argc + 1];                                 \
  argv[0] = (char*)(first);                             \
  va_start(ap, first);                                  \
  for (size_t i = 1; i <= argc; ++i) argv[i] = va_arg(ap, char*);

int execl(const char* path, const char* arg, ...) {
  COLLECT_ARGS(arg, argv);
  va_end(ap);
  return execve(path, argv, environ);
}

int execlp(const char* file, const char* arg, ...) {
  COLLECT_ARGS(arg, argv);
  va_end(ap);
  return execvpe(file, argv, environ);
}

int execle(const char* path, const char* arg, ...) {
  COLLECT_ARGS(arg, argv);
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(path, argv, envp);
}

int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  REAL(posix_spawn, spawn_fn);
  record_exec_path(path);
  return real_posix_spawn(pid, path, actions, attr, argv, envp);
}

int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                 const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  REAL(posix_spawnp, spawn_fn);
  record_exec_search(file);
  return real_posix_spawnp(pid, file, actions, attr, argv, envp);
}

// --- files opened ------------------------------------------------------------

typedef int (*open_fn)(const char*, int, ...);
typedef int (*openat_fn)(int, const char*, int, ...);
typedef int (*open2_fn)(const char*, int);
typedef FILE* (*fopen_fn)(const char*, const char*);
typedef void* (*dlopen_fn)(const char*, int);

static int wants_mode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

// Records what an open returned and hands it back with errno untouched.
static int opened(const char* path, int fd) {
  int saved = errno;
  record_open(path, fd);
  errno = saved;
  return fd;
}

// The optional third argument of open/openat, read only when it is there.
#define TAKE_MODE(flags)         \
  mode_t mode = 0;               \
  if (wants_mode(flags)) {       \
    va_list ap;                  \
    va_start(ap, flags);         \
    mode = va_arg(ap, mode_t);   \
    va_end(ap);                  \
  }

#define OPEN_HOOK(name)                                  \
  int name(const char* path, int flags, ...) {           \
    REAL(name, open_fn);                                 \
    TAKE_MODE(flags);                                    \
    return opened(path, real_##name(path, flags, mode)); \
  }
OPEN_HOOK(open)
OPEN_HOOK(open64)

// openat: only paths that do not depend on the directory descriptor.
#define OPENAT_HOOK(name)                                                      \
  int name(int dirfd, const char* path, int flags, ...) {                      \
    REAL(name, openat_fn);                                                     \
    TAKE_MODE(flags);                                                          \
    int fd = real_##name(dirfd, path, flags, mode);                            \
    return (fd >= 0 && (dirfd == AT_FDCWD || path[0] == '/')) ? opened(path, fd) : fd; \
  }
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)

// The _FORTIFY_SOURCE entry points that programs built with it call.
#define OPEN2_HOOK(name)                                \
  int name(const char* path, int flags) {               \
    REAL(name, open2_fn);                               \
    return opened(path, real_##name(path, flags));      \
  }
OPEN2_HOOK(__open_2)
OPEN2_HOOK(__open64_2)

#define FOPEN_HOOK(name)                            \
  FILE* name(const char* path, const char* mode) {  \
    REAL(name, fopen_fn);                           \
    FILE* f = real_##name(path, mode);              \
    if (f != NULL) opened(path, fileno(f));         \
    return f;                                       \
  }
FOPEN_HOOK(fopen)
FOPEN_HOOK(fopen64)

void* dlopen(const char* file, int mode) {
  REAL(dlopen, dlopen_fn);
  void* handle = real_dlopen(file, mode);
  if (handle != NULL && file != NULL && !in_hook) {
    // The loader's own search decides which file a bare name is: ask it.
    char where[PATH_MAX];
    in_hook = 1;
    int found = dlinfo(handle, RTLD_DI_ORIGIN, where) == 0;
    in_hook = 0;
    const char* base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (found && strlen(where) + 1 + strlen(base) < PATH_MAX) {
      size_t n = strlen(where);
      where[n] = '/';
      strcpy(where + n + 1, base);
      record("dlopen", where);
    }
  }
  return handle;
}
