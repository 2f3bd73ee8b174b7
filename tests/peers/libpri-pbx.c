/*
 * libpri-pbx: libpri 1.6 as a QSIG PBX on a SOCK_SEQPACKET D-channel socket, for tests.
 *
 * Usage: libpri-pbx SOCKET_PATH|-|dahdi:CHANNEL network|cpe [lean]
 *
 * Connects to SOCKET_PATH, or with "-" uses standard input as the socket (one end of a
 * socketpair). One packet = one Q.921 frame without FCS, as on the dahdi-mwi sim D-channel.
 * With "dahdi:CHANNEL" it opens /dev/dahdi/channel and binds it to that DAHDI channel
 * (DAHDI_SPECIFY), which must be an HDLC D-channel (dchan= or hardhdlc= in system.conf): there
 * a read returns the frame plus the 2 FCS octets the kernel checked, and a write takes the frame
 * plus 2 placeholder octets the kernel fills with the FCS (dahdi/user.h).
 * Runs libpri with the QSIG switch type on it and prints machine-readable lines on
 * stdout, one per fact, flushed before it waits for the next frame or timer:
 *
 *   READY                    connected, libpri started
 *   DCHAN_UP / DCHAN_DOWN    PRI_EVENT_DCHAN_UP / PRI_EVENT_DCHAN_DOWN
 *   APDU <text>              one line of libpri's own APDU / Q.931 debug decode (not with
 *                            "lean": libpri then decodes only APDUs, into MWI lines, and
 *                            they are not echoed: less work per frame, for throughput runs)
 *   MWI op=activate|deactivate|interrogate invokeId=N FIELD=VALUE...
 *                            one SS-MWI invoke as libpri decoded it, from its APDU decode:
 *                            e.g. servedUserNr.unknownPartyNumber=1234 basicService=1
 *                            nbOfMessages=3 (nested fields are named parent.child)
 *   RX <hex> / TX <hex>      every frame received / sent (no FCS)
 *   EVENT <n>                any other libpri event
 *   DAHDI_EVENT <n>          a DAHDI event on the channel (DAHDI_GETEVENT: alarms, bad FCS...)
 *
 * libpri writes 2 FCS octets it never computes and expects 2 trailing octets on reads: on a
 * socket the callbacks strip and add them; on a DAHDI channel they are the real FCS positions.
 * Exits 0 when the socket closes (a DAHDI channel never does: kill the process).
 */
#include <dahdi/user.h>
#include <errno.h>
#include <fcntl.h>
#include <libpri.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int peer_closed;

static void hexline(const char *tag, const unsigned char *buf, int len)
{
	printf("%s ", tag);
	for (int i = 0; i < len; i++)
		printf("%02x", buf[i]);
	printf("\n");
}

static int read_cb(struct pri *pri, void *buf, int buflen)
{
	int fd = pri_fd(pri);
	ssize_t n;

	(void)pri;
	if (buflen < 3)
		return -1;
	n = recv(fd, buf, (size_t)buflen - 2, 0);
	if (n <= 0) {
		peer_closed = 1;
		return -1;
	}
	hexline("RX", buf, (int)n);
	/* libpri drops the last two octets as the FCS. */
	memset((unsigned char *)buf + n, 0, 2);
	return (int)n + 2;
}

static int write_cb(struct pri *pri, void *buf, int buflen)
{
	int fd = pri_fd(pri);

	if (buflen < 2)
		return buflen;
	hexline("TX", buf, buflen - 2);
	if (send(fd, buf, (size_t)buflen - 2, MSG_NOSIGNAL) < 0)
		peer_closed = 1;
	return buflen;
}

/*
 * A DAHDI channel refuses reads and writes with ELAST while an event is pending: take it off
 * the queue and report it.
 */
static void dahdi_event(int fd)
{
	int ev = 0;

	if (ioctl(fd, DAHDI_GETEVENT, &ev) == 0)
		printf("DAHDI_EVENT %d\n", ev);
}

static int dahdi_read_cb(struct pri *pri, void *buf, int buflen)
{
	int fd = pri_fd(pri);
	ssize_t n = read(fd, buf, (size_t)buflen);

	if (n < 0 && errno == ELAST)
		dahdi_event(fd);
	/* 0 tells libpri there is no frame; a frame is at least address + control + FCS. */
	if (n < 4)
		return 0;
	hexline("RX", buf, (int)n - 2);
	return (int)n;
}

static int dahdi_write_cb(struct pri *pri, void *buf, int buflen)
{
	int fd = pri_fd(pri);
	ssize_t n;

	if (buflen < 2)
		return buflen;
	hexline("TX", buf, buflen - 2);
	n = write(fd, buf, (size_t)buflen);
	if (n < 0 && errno == ELAST) {
		dahdi_event(fd);
		n = write(fd, buf, (size_t)buflen);
	}
	if (n < 0)
		fprintf(stderr, "libpri-pbx: write on the D-channel: %s\n", strerror(errno));
	return buflen;
}

/*
 * Open /dev/dahdi/channel bound to DAHDI channel `channo`, checked to be an HDLC D-channel,
 * with chan_dahdi's buffer policy for D-channels (32 x 1024 octets, immediate). -1 on error.
 */
static int open_dahdi(int channo)
{
	struct dahdi_params p;
	struct dahdi_bufferinfo bi;
	int fd = open("/dev/dahdi/channel", O_RDWR);

	if (fd < 0) {
		perror("open /dev/dahdi/channel");
		return -1;
	}
	if (ioctl(fd, DAHDI_SPECIFY, &channo) < 0) {
		fprintf(stderr, "DAHDI_SPECIFY %d: %s\n", channo, strerror(errno));
		goto fail;
	}
	memset(&p, 0, sizeof(p));
	if (ioctl(fd, DAHDI_GET_PARAMS, &p) < 0) {
		perror("DAHDI_GET_PARAMS");
		goto fail;
	}
	if (p.sigtype != DAHDI_SIG_HDLCFCS && p.sigtype != DAHDI_SIG_HARDHDLC) {
		fprintf(stderr, "DAHDI channel %d has sigtype 0x%x, not an HDLC D-channel (dchan=)\n",
			channo, p.sigtype);
		goto fail;
	}
	memset(&bi, 0, sizeof(bi));
	bi.txbufpolicy = DAHDI_POLICY_IMMEDIATE;
	bi.rxbufpolicy = DAHDI_POLICY_IMMEDIATE;
	bi.numbufs = 32;
	bi.bufsize = 1024;
	if (ioctl(fd, DAHDI_SET_BUFINFO, &bi) < 0) {
		perror("DAHDI_SET_BUFINFO");
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* libpri's debug text comes in fragments; print it line by line, tagged. */
static char pending[8192];
static size_t pending_len;

/* The SS-MWI invoke being collected from libpri's decode ("operationValue = ROSE_QSIG_MWI..."). */
static char mwi[2048];
static int in_mwi;
static char invoke_id[32];
static char parent[64];

static void mwi_add(const char *name, const char *value)
{
	size_t used = strlen(mwi);

	snprintf(mwi + used, sizeof(mwi) - used, " %s%s%s=%s", parent, parent[0] ? "." : "", name,
		 value);
}

static void mwi_end(void)
{
	if (in_mwi) {
		printf("MWI%s\n", mwi);
		in_mwi = 0;
	}
}

/*
 * One line of libpri's ROSE decode: "  name Type [tag] = value 0xhex" or "  name Type" (a
 * constructed or CHOICE element, which becomes the parent of the next named values).
 */
static void decode_line(const char *line)
{
	const char *op, *eq;
	char name[64];
	char value[256];
	size_t n;

	while (*line == ' ')
		line++;
	if ((op = strstr(line, "operationValue = ROSE_QSIG_MWI"))) {
		mwi_end();
		in_mwi = 1;
		parent[0] = 0;
		op += strlen("operationValue = ROSE_QSIG_MWI");
		snprintf(mwi, sizeof(mwi), " op=%s invokeId=%s",
			 !strcmp(op, "Activate") ? "activate" :
			 !strcmp(op, "Deactivate") ? "deactivate" : "interrogate", invoke_id);
		return;
	}
	if (!strncmp(line, "invokeId ", 9) && (eq = strstr(line, " = "))) {
		snprintf(invoke_id, sizeof(invoke_id), "%s", eq + 3);
		if (strchr(invoke_id, ' '))
			*strchr(invoke_id, ' ') = 0;
		return;
	}
	if (!in_mwi)
		return;
	if (!strncmp(line, "!!", 2) || !strncmp(line, "--", 2) || !line[0] ||
	    !strncmp(line, "INVOKE", 6) || line[0] == '<' || line[0] == '>') {
		mwi_end();
		return;
	}
	n = strcspn(line, " ");
	if (n == 0 || n >= sizeof(name))
		return;
	memcpy(name, line, n);
	name[n] = 0;
	eq = strstr(line, " = ");
	if (!eq) {
		/* MWIActivateArg etc. are the top level; others name a nested element. */
		if (!strstr(name, "Arg"))
			snprintf(parent, sizeof(parent), "%s", name);
		return;
	}
	eq += 3;
	if (*eq == '"') {
		eq++;
		n = strcspn(eq, "\"");
	} else {
		n = strcspn(eq, " ");
	}
	if (n >= sizeof(value))
		n = sizeof(value) - 1;
	memcpy(value, eq, n);
	value[n] = 0;
	/* A value of a CHOICE (a PartyNumber) stays under its parent; a plain field does not. */
	if (!strstr(name, "PartyNumber") && strcmp(name, "integer") && strcmp(name, "numericString"))
		parent[0] = 0;
	mwi_add(name, value);
}

/* "lean": the debug text is decoded into MWI lines but not echoed as APDU lines. */
static int lean;

static void message_cb(struct pri *pri, char *text)
{
	(void)pri;
	for (const char *p = text; *p; p++) {
		if (*p == '\n') {
			pending[pending_len] = 0;
			if (!lean)
				printf("APDU %s\n", pending);
			decode_line(pending);
			pending_len = 0;
		} else if (pending_len + 1 < sizeof(pending)) {
			pending[pending_len++] = *p;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr;
	struct pri *pri;
	int fd, node, dahdi = 0, debug = PRI_DEBUG_APDU | PRI_DEBUG_Q931_DUMP | PRI_DEBUG_Q931_ANOMALY;

	if (argc == 4 && strcmp(argv[3], "lean") == 0) {
		debug = PRI_DEBUG_APDU;
		lean = 1;
		argc--;
	}
	if (argc != 3 || (strcmp(argv[2], "network") && strcmp(argv[2], "cpe"))) {
		fprintf(stderr, "usage: %s SOCKET_PATH|-|dahdi:CHANNEL network|cpe [lean]\n", argv[0]);
		return 2;
	}
	node = strcmp(argv[2], "network") == 0 ? PRI_NETWORK : PRI_CPE;
	if (strncmp(argv[1], "dahdi:", 6) == 0) {
		char *end;
		long channo = strtol(argv[1] + 6, &end, 10);

		if (*end || channo < 1 || channo > 4096) {
			fprintf(stderr, "bad DAHDI channel in %s\n", argv[1]);
			return 2;
		}
		fd = open_dahdi((int)channo);
		if (fd < 0)
			return 1;
		dahdi = 1;
	} else if (strcmp(argv[1], "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (fd < 0) {
			perror("socket");
			return 1;
		}
		memset(&addr, 0, sizeof(addr));
		addr.sun_family = AF_UNIX;
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", argv[1]);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			perror("connect");
			return 1;
		}
	}
	pri_set_message(message_cb);
	pri_set_error(message_cb);
	pri = pri_new_cb(fd, node, PRI_SWITCH_QSIG, dahdi ? dahdi_read_cb : read_cb,
			 dahdi ? dahdi_write_cb : write_cb, NULL);
	if (!pri) {
		fprintf(stderr, "pri_new_cb failed\n");
		return 1;
	}
	pri_set_debug(pri, debug);
	printf("READY\n");

	while (!peer_closed) {
		/* POLLPRI: a DAHDI event (its read then fails with ELAST, see dahdi_read_cb). */
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLPRI };
		struct timeval *next = pri_schedule_next(pri);
		int timeout = -1;
		pri_event *ev = NULL;

		/* One flush per frame or timer, not per line: a write per line is costly under TCG. */
		fflush(stdout);

		if (next) {
			struct timeval now;
			long ms;

			gettimeofday(&now, NULL);
			ms = (next->tv_sec - now.tv_sec) * 1000 + (next->tv_usec - now.tv_usec) / 1000;
			timeout = ms < 0 ? 0 : (int)ms;
		}
		if (poll(&pfd, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return 1;
		}
		if (pfd.revents & (POLLIN | POLLPRI | POLLHUP | POLLERR))
			ev = pri_check_event(pri);
		else
			ev = pri_schedule_run(pri);
		if (!ev)
			continue;
		switch (ev->e) {
		case PRI_EVENT_DCHAN_UP:
			printf("DCHAN_UP\n");
			break;
		case PRI_EVENT_DCHAN_DOWN:
			printf("DCHAN_DOWN\n");
			break;
		default:
			printf("EVENT %d\n", ev->e);
			break;
		}
	}
	return 0;
}
