#ifndef CSECCOMP_SHIM_H
#define CSECCOMP_SHIM_H
#include <seccomp.h>

// The SCMP_ACT_* macros with an argument are function-like: Swift cannot call them.
static inline uint32_t cseccomp_act_errno(uint16_t e) { return SCMP_ACT_ERRNO(e); }
static inline uint32_t cseccomp_act_trace(uint16_t e) { return SCMP_ACT_TRACE(e); }
static inline const uint32_t cseccomp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline const uint32_t cseccomp_act_kill_thread(void) { return SCMP_ACT_KILL_THREAD; }
static inline const uint32_t cseccomp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline const uint32_t cseccomp_act_trap(void) { return SCMP_ACT_TRAP; }
static inline const uint32_t cseccomp_act_log(void) { return SCMP_ACT_LOG; }
static inline const uint32_t cseccomp_act_notify(void) { return SCMP_ACT_NOTIFY; }
static inline const uint32_t cseccomp_arch_native(void) { return SCMP_ARCH_NATIVE; }
#endif
