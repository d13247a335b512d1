/*
 * hutch's exec shim: the program a container's init and every exec'd process become before the user's program
 * runs, so that no process of the container ever runs the host's Python interpreter when it calls execve, or
 * while it waits for `start`, or at all in the case of `exec`.
 *
 * Why: at execve, "#!/proc/self/exe" in a script names the binary the caller runs, and a container process
 * that holds /proc/PID/exe of a host binary can later reopen it for writing (CVE-2019-5736). hutch loads this
 * program into a sealed memfd and executes it from there: its /proc/PID/exe is that memfd, which no one can
 * write to (F_SEAL_WRITE), and the Python interpreter is no longer mapped in the process at all.
 *
 * Built freestanding (no libc): about a kilobyte, raw system calls, nothing read from any filesystem.
 * `make shim` rebuilds it and regenerates src/hutch/linux/execshim_blob.py (base64, committed).
 *
 *   argv[0] is a name; then LISTEN_FD REPORT_FD FORK TTY_FD JOIN_FDS PATH ARG0 [ARG...]
 *   ("-" for an fd or a list not given; FORK is "fork" or "-"; JOIN_FDS is "4,5,6")
 *
 * With LISTEN_FD, wait for a connection on that listening socket that sends "start" (the start command),
 * and use the connection as REPORT_FD. With FORK (exec: the caller sits outside the container's PID
 * namespace, its children inside), fork; the parent sends "pid N" on REPORT_FD (N in the caller's PID
 * namespace) and exits 0, and only then does the child go on: a new session, TTY_FD as its controlling
 * terminal and stdio, "0" written to each JOIN_FDS (cgroup.procs files: join those cgroups). Then
 * execve(PATH, ARG0..., environ). If a step fails, send "failed ERRNO WHAT" or, for execve, "execerr ERRNO
 * ARG0" on REPORT_FD and exit with 125, or 127 (no such file) or 126 (any other execve error), as a shell
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
#define SYS_setsid 112
#define SYS_ioctl 16
#define SYS_dup3 292
#define SYS_pipe2 293
#define SYS_clone 56

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
#define SYS_setsid 157
#define SYS_ioctl 29
#define SYS_dup3 24
#define SYS_pipe2 59
#define SYS_clone 220

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
#define O_CLOEXEC 02000000
#define SIGCHLD 17
#define TIOCSCTTY 0x540E

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

static char *append_number(char *out, char *end, long n)
{
	char digits[24];
	int i = sizeof digits - 1;
	digits[i] = 0;
	do {
		digits[--i] = '0' + n % 10;
		n /= 10;
	} while (n && i > 0);
	return append(out, end, digits + i);
}

/* "KIND NUMBER TEXT" on fd, in one write (a SOCK_SEQPACKET message). */
static void send_message(long fd, const char *kind, long number, const char *text)
{
	char msg[4096], *p = msg, *end = msg + sizeof msg;
	if (fd < 0)
		return;
	p = append(p, end, kind);
	p = append(p, end, " ");
	p = append_number(p, end, number);
	if (text) {
		p = append(p, end, " ");
		p = append(p, end, text);
	}
	sys(SYS_write, fd, (long)msg, p - msg, 0);
}

static void fail(long report_fd, long err, const char *what)
{
	send_message(report_fd, "failed", err, what);
	quit(125);
}

/* Fork; the parent reports the child's PID and exits; the child returns once that report is sent. */
static void fork_and_report(long report_fd)
{
	int pipefd[2];
	char byte;
	long r = sys(SYS_pipe2, (long)pipefd, O_CLOEXEC, 0, 0);
	if (r < 0)
		fail(report_fd, -r, "fork the process");
	long pid = sys(SYS_clone, SIGCHLD, 0, 0, 0);
	if (pid < 0)
		fail(report_fd, -pid, "fork the process");
	if (pid > 0) {
		send_message(report_fd, "pid", pid, 0);
		quit(0); /* closes the pipe: the child goes on */
	}
	sys(SYS_close, pipefd[1], 0, 0, 0);
	while (sys(SYS_read, pipefd[0], (long)&byte, 1, 0) == -EINTR)
		;
	sys(SYS_close, pipefd[0], 0, 0, 0);
}

static void take_terminal(long report_fd, long tty)
{
	long r = sys(SYS_ioctl, tty, TIOCSCTTY, 0, 0);
	if (r < 0)
		fail(report_fd, -r, "set the controlling terminal");
	for (long target = 0; target < 3; target++)
		if (tty != target && (r = sys(SYS_dup3, tty, target, 0, 0)) < 0)
			fail(report_fd, -r, "set up the terminal");
	if (tty > 2)
		sys(SYS_close, tty, 0, 0, 0);
}

static void join_cgroups(long report_fd, const char *list)
{
	long fd = 0;
	int digits = 0;
	if (list[0] == '-')
		return;
	for (const char *s = list;; s++) {
		if (*s >= '0' && *s <= '9') {
			fd = fd * 10 + (*s - '0');
			digits++;
			continue;
		}
		if ((*s != ',' && *s != 0) || !digits)
			quit(125);
		long r = sys(SYS_write, fd, (long)"0", 1, 0);
		if (r < 0)
			fail(report_fd, -r, "join the container's cgroup");
		sys(SYS_close, fd, 0, 0, 0);
		if (*s == 0)
			return;
		fd = 0;
		digits = 0;
	}
}

__attribute__((used)) void start_c(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	if (argc < 8)
		quit(125);
	long listen_fd = parse_fd(argv[1]);
	long report_fd = parse_fd(argv[2]);
	int forking = argv[3][0] == 'f';
	long tty = parse_fd(argv[4]);
	if (listen_fd >= 0)
		report_fd = wait_for_start(listen_fd);
	if (forking) {
		fork_and_report(report_fd);
		sys(SYS_setsid, 0, 0, 0, 0);
	}
	if (tty >= 0)
		take_terminal(report_fd, tty);
	join_cgroups(report_fd, argv[5]);
	if (report_fd >= 0)
		sys(SYS_fcntl, report_fd, F_SETFD, FD_CLOEXEC, 0);
	long err = -sys(SYS_execve, (long)argv[6], (long)(argv + 7), (long)envp, 0);
	send_message(report_fd, "execerr", err, argv[7]);
	quit(err == ENOENT ? 127 : 126);
}
