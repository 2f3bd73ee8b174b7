/*
 * libpri-pbx: libpri 1.6 as a QSIG PBX on a SOCK_SEQPACKET D-channel socket, for tests.
 *
 * Usage: libpri-pbx SOCKET_PATH|- network|cpe
 *
 * Connects to SOCKET_PATH, or with "-" uses standard input as the socket (one end of a
 * socketpair). One packet = one Q.921 frame without FCS, as on the dahdi-mwi sim D-channel.
 * Runs libpri with the QSIG switch type on it and prints machine-readable lines on
 * stdout, one per fact, flushed at once:
 *
 *   READY                    connected, libpri started
 *   DCHAN_UP / DCHAN_DOWN    PRI_EVENT_DCHAN_UP / PRI_EVENT_DCHAN_DOWN
 *   APDU <text>              one line of libpri's own APDU / Q.931 debug decode
 *   MWI op=activate|deactivate|interrogate invokeId=N FIELD=VALUE...
 *                            one SS-MWI invoke as libpri decoded it, from its APDU decode:
 *                            e.g. servedUserNr.unknownPartyNumber=1234 basicService=1
 *                            nbOfMessages=3 (nested fields are named parent.child)
 *   RX <hex> / TX <hex>      every frame received / sent (no FCS)
 *   EVENT <n>                any other libpri event
 *
 * libpri writes 2 FCS octets it never computes and expects 2 trailing octets on reads: the
 * callbacks strip and add them. Exits 0 when the socket closes.
 */
#include <errno.h>
#include <libpri.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	fflush(stdout);
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

static void message_cb(struct pri *pri, char *text)
{
	(void)pri;
	for (const char *p = text; *p; p++) {
		if (*p == '\n') {
			pending[pending_len] = 0;
			printf("APDU %s\n", pending);
			decode_line(pending);
			pending_len = 0;
		} else if (pending_len + 1 < sizeof(pending)) {
			pending[pending_len++] = *p;
		}
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr;
	struct pri *pri;
	int fd, node;

	if (argc != 3 || (strcmp(argv[2], "network") && strcmp(argv[2], "cpe"))) {
		fprintf(stderr, "usage: %s SOCKET_PATH network|cpe\n", argv[0]);
		return 2;
	}
	node = strcmp(argv[2], "network") == 0 ? PRI_NETWORK : PRI_CPE;
	if (strcmp(argv[1], "-") == 0) {
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
	pri = pri_new_cb(fd, node, PRI_SWITCH_QSIG, read_cb, write_cb, NULL);
	if (!pri) {
		fprintf(stderr, "pri_new_cb failed\n");
		return 1;
	}
	pri_set_debug(pri, PRI_DEBUG_APDU | PRI_DEBUG_Q931_DUMP | PRI_DEBUG_Q931_ANOMALY);
	printf("READY\n");
	fflush(stdout);

	while (!peer_closed) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct timeval *next = pri_schedule_next(pri);
		int timeout = -1;
		pri_event *ev = NULL;

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
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
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
		fflush(stdout);
	}
	return 0;
}
