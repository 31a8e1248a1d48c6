// venom/detail/platform.hpp - every OS call venom makes, behind a small interface; the
// implementations are platform_linux.hpp and platform_windows.hpp. Nothing else includes an OS
// header. What each provides:
//   cpu_relax, current_pid, unix_now_ns
//   AccessControl                who may open the channel (file mode / security descriptor)
//   Event, EventSet              block on / wake a WaitWord across processes (futex / semaphore)
//   LockFile                     byte-range locks the OS releases when a process dies
//   names: segment_name, liveness_path, lock_path; new_incarnation; free-space checks
#pragma once

#if defined(_WIN32)
#include <venom/detail/platform_windows.hpp>
#elif defined(__linux__)
#include <venom/detail/platform_linux.hpp>
#else
#error "venom supports Linux and Windows"
#endif
