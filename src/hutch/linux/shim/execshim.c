/*
 * hutch's exec shim: the program a container's init (and an exec'd process) becomes right before it executes
 * the user's program, so that no process of the container ever runs the host's Python interpreter at the
 * moment it calls execve, or while it waits for `start`.
 *
 * Why: at execve, "#!/proc/self/exe" in a script names the binary the caller runs, and a container process
 * that holds /proc/PID/exe of a host binary can later reopen it for writing (CVE-2019-5736). hutch loads this
 * program into a sealed memfd and executes it from there: its /proc/PID/exe is that memfd, which no one can
 * write to (F_SEAL_WRITE), and the Python interpreter is no longer mapped in the process at all.
 *
 * Built freestanding (no libc): a few hundred bytes, raw system calls, nothing read from any filesystem.
 * `make shim` rebuilds it and regenerates src/hutch/linux/execshim_blob.py (base64, committed).
 *
 *   argv[0] is a name; then LISTEN_FD REPORT_FD PATH ARG0 [ARG...]   ("-" for an fd not given)
 *
 * With LISTEN_FD, wait for a connection on that listening socket that sends "start" (the start command),
 * then use the connection as REPORT_FD. Then execve(PATH, ARG0..., environ). If that fails, send
 * "execerr ERRNO ARG0" on REPORT_FD and exit with 127 (no such file) or 126 (any other error), as a shell
 * does. REPORT_FD is close-on-exec from here on: the caller reads end-of-file when the program started.
 */

#if defined(__x86_64__)
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_fcntl 72
#define SYS_execve 59
#define SYS_exit_group 231
#define SYS_accept4 288

static long sys(long n, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

__asm__(".text\n.global _start\n_start:\n\txor %rbp,%rbp\n\tmov %rsp,%rdi\n\tand $-16,%rsp\n\tcall start_c\n\thlt\n");

#elif defined(__aarch64__)
#define SYS_read 63
#define SYS_write 64
#define SYS_close 57
#define SYS_fcntl 25
#define SYS_execve 221
#define SYS_exit_group 94
#define SYS_accept4 242

static long sys(long n, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}

__asm__(".text\n.global _start\n_start:\n\tmov x29, #0\n\tmov x0, sp\n\tbl start_c\n\tbrk #0\n");

#else
#error "the exec shim supports x86_64 and aarch64"
#endif

#define F_SETFD 2
#define FD_CLOEXEC 1
#define SOCK_CLOEXEC 02000000
#define EINTR 4
#define ENOENT 2

static void quit(int code)
{
	for (;;)
		sys(SYS_exit_group, code, 0, 0, 0);
}

static long parse_fd(const char *s)
{
	long n = 0;
	if (s[0] == '-' || s[0] == 0)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > 1000000)
			quit(125);
		n = n * 10 + (*s - '0');
	}
	return n;
}

static long wait_for_start(long listen_fd)
{
	char buf[16];
	for (;;) {
		long conn = sys(SYS_accept4, listen_fd, 0, 0, SOCK_CLOEXEC);
		if (conn == -EINTR)
			continue;
		if (conn < 0)
			quit(125);
		long n = sys(SYS_read, conn, (long)buf, sizeof buf, 0);
		if (n == 5 && buf[0] == 's' && buf[1] == 't' && buf[2] == 'a' && buf[3] == 'r' && buf[4] == 't') {
			sys(SYS_close, listen_fd, 0, 0, 0);
			return conn;
		}
		sys(SYS_close, conn, 0, 0, 0); /* not a start command: keep waiting */
	}
}

static char *append(char *out, char *end, const char *s)
{
	while (*s && out < end)
		*out++ = *s++;
	return out;
}

static void report_failure(long fd, long err, const char *arg0)
{
	char msg[4096], digits[12], *p = msg, *end = msg + sizeof msg;
	int i = sizeof digits - 1;
	digits[i] = 0;
	do {
		digits[--i] = '0' + err % 10;
		err /= 10;
	} while (err && i > 0);
	p = append(p, end, "execerr ");
	p = append(p, end, digits + i);
	p = append(p, end, " ");
	p = append(p, end, arg0);
	sys(SYS_write, fd, (long)msg, p - msg, 0);
}

__attribute__((used)) void start_c(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	if (argc < 5)
		quit(125);
	long listen_fd = parse_fd(argv[1]);
	long report_fd = parse_fd(argv[2]);
	if (listen_fd >= 0)
		report_fd = wait_for_start(listen_fd);
	if (report_fd >= 0)
		sys(SYS_fcntl, report_fd, F_SETFD, FD_CLOEXEC, 0);
	long err = -sys(SYS_execve, (long)argv[3], (long)(argv + 4), (long)envp, 0);
	if (report_fd >= 0)
		report_failure(report_fd, err, argv[4]);
	quit(err == ENOENT ? 127 : 126);
}
