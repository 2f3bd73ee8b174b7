/*
 * libpri-pbx: libpri 1.6 as a QSIG PBX on a SOCK_SEQPACKET D-channel socket, for tests.
 *
 * Usage: libpri-pbx SOCKET_PATH|-|dahdi:CHANNEL network|cpe [lean] [CALL OPTIONS]
 *
 * Connects to SOCKET_PATH, or with "-" uses standard input as the socket (one end of a
 * socketpair). One packet = one Q.921 frame without FCS, as on the dahdi-mwi sim D-channel.
 * With "dahdi:CHANNEL" it opens /dev/dahdi/channel and binds it to that DAHDI channel
 * (DAHDI_SPECIFY), which must be an HDLC D-channel (dchan= or hardhdlc= in system.conf): there
 * a read returns the frame plus the 2 FCS octets the kernel checked, and a write takes the frame
 * plus 2 placeholder octets the kernel fills with the FCS (dahdi/user.h).
 * Runs libpri with the QSIG switch type on it (with "--etsi": EuroISDN E1, ETSI DSS1) and
 * prints machine-readable lines on stdout, one per fact, flushed before it waits for the next
 * frame or timer:
 *
 *   READY                    connected, libpri started
 *   DCHAN_UP / DCHAN_DOWN    PRI_EVENT_DCHAN_UP / PRI_EVENT_DCHAN_DOWN
 *   APDU <text>              one line of libpri's own APDU / Q.931 debug decode (not with
 *                            "lean": libpri then decodes only APDUs, into MWI lines, and
 *                            they are not echoed: less work per frame, for throughput runs)
 *   MWI op=activate|deactivate|interrogate|indicate invokeId=N FIELD=VALUE...
 *                            one SS-MWI (QSIG) or ETSI MWI invoke as libpri decoded it,
 *                            from its APDU decode: e.g. servedUserNr.unknownPartyNumber=1234
 *                            basicService=1 nbOfMessages=3 (nested fields are named
 *                            parent.child; ETSI names receivingUserNr, numberOfMessages)
 *   RX <hex> / TX <hex>      every frame received / sent (no FCS)
 *   EVENT <n>                any other libpri event
 *   DAHDI_EVENT <n>          a DAHDI event on the channel (DAHDI_GETEVENT: alarms, bad FCS...)
 *
 * Basic calls, scripted by the options (one call at a time):
 *
 *   --call NUMBER            after PRI_EVENT_DCHAN_UP, place a call (pri_setup) to NUMBER
 *   --calling NUMBER         the calling party number of that SETUP (default 2000)
 *   --name NAME              the calling name of our SETUP and the connected name of our
 *                            CONNECT (QSIG name identification, ECMA-164; turns on
 *                            pri_facility_enable, without which libpri sends no Facility IE)
 *   --channel N              the B-channel of our SETUP (default 1)
 *   --exclusive              ask for it as exclusive (default preferred)
 *   --alaw                   A-law bearer capability (default mu-law)
 *   --answer                 answer incoming calls: ALERTING (pri_acknowledge), then CONNECT
 *   --mwi NUMBER             after PRI_EVENT_DCHAN_UP, send an MWIActivate for served user
 *                            NUMBER (pri_mwi_activate: a call-independent SETUP with the QSIG
 *                            invoke, from --calling), as a PBX's voice mail lights a lamp
 *   --hangup-after MS        hang up (pri_hangup, cause 16) MS ms after the call is answered
 *                            (ANSWER of our call, or our CONNECT of an incoming one)
 *   --calls N                place N calls to --call one after another (default 1): each
 *                            next SETUP goes when the call before it is cleared, for timing
 *                            many setups in one process and on one link
 *
 * and one line per call event libpri reports:
 *
 *   CALL RING channel=N called=D calling=D name=S   PRI_EVENT_RING (an incoming SETUP)
 *   CALL PROCEEDING|RINGING|PROGRESS channel=N      PRI_EVENT_PROCEEDING / RINGING / PROGRESS
 *   CALL ANSWER channel=N connected_name=S          PRI_EVENT_ANSWER (CONNECT received)
 *   CALL CONNECT_ACK                                PRI_EVENT_CONNECT_ACK
 *   CALL HANGUP_REQ|HANGUP|HANGUP_ACK cause=N       DISCONNECT / RELEASE (COMPLETE) received,
 *                                                   our own clearing acknowledged
 *   CALL SENT SETUP|ALERTING|CONNECT|HANGUP         what the script made libpri do
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
#include <time.h>
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
	if ((op = strstr(line, "operationValue = ROSE_QSIG_MWI")) ||
	    (op = strstr(line, "operationValue = ROSE_ETSI_MWI"))) {
		mwi_end();
		in_mwi = 1;
		parent[0] = 0;
		op += strlen("operationValue = ROSE_QSIG_MWI");
		snprintf(mwi, sizeof(mwi), " op=%s invokeId=%s",
			 !strcmp(op, "Activate") ? "activate" :
			 !strcmp(op, "Deactivate") ? "deactivate" :
			 !strcmp(op, "Indicate") ? "indicate" : "interrogate", invoke_id);
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


/* The call script (see the header) and the one call in progress. */
static const char *call_number;
static const char *mwi_number;
static const char *calling_number = "2000";
static const char *call_name;
static int call_channel = 1, call_exclusive, call_alaw, call_answer;
static long hangup_after = -1;
/* How many calls --call places, and how many it has placed. */
static long calls_wanted = 1, calls_placed;
static q931_call *call;
/* When to hang up the call (CLOCK_MONOTONIC ms), 0: not scheduled. */
static long long hangup_at;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void schedule_hangup(void)
{
	if (hangup_after >= 0)
		hangup_at = now_ms() + hangup_after;
}

static void place_call(struct pri *pri)
{
	struct pri_sr *sr = pri_sr_new();

	call = pri_new_call(pri);
	calls_placed++;
	if (!sr || !call) {
		fprintf(stderr, "libpri-pbx: cannot allocate a call\n");
		return;
	}
	pri_sr_set_channel(sr, call_channel, call_exclusive, 0);
	pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, call_alaw ? PRI_LAYER_1_ALAW : PRI_LAYER_1_ULAW);
	pri_sr_set_called(sr, (char *)call_number, PRI_UNKNOWN, 1);
	pri_sr_set_caller(sr, (char *)calling_number, (char *)call_name, PRI_UNKNOWN,
			  PRES_ALLOWED_USER_NUMBER_NOT_SCREENED);
	if (pri_setup(pri, call, sr))
		fprintf(stderr, "libpri-pbx: pri_setup failed\n");
	else
		printf("CALL SENT SETUP\n");
	pri_sr_free(sr);
}

static void send_mwi(struct pri *pri)
{
	q931_call *c = pri_new_call(pri);

	if (!c || pri_mwi_activate(pri, c, (char *)calling_number, PRI_UNKNOWN, (char *)"",
				   PRES_ALLOWED_USER_NUMBER_NOT_SCREENED, (char *)mwi_number,
				   PRI_UNKNOWN))
		fprintf(stderr, "libpri-pbx: pri_mwi_activate failed\n");
	else
		printf("CALL SENT MWI %s\n", mwi_number);
}

/* The connected party's name of a CONNECT, from its PRI_SUBCMD_CONNECTED_LINE. */
static const char *connected_name(const struct pri_subcommands *subcmds)
{
	for (int i = 0; subcmds && i < subcmds->counter_subcmd; i++) {
		const struct pri_subcommand *sub = &subcmds->subcmd[i];

		if (sub->cmd == PRI_SUBCMD_CONNECTED_LINE && sub->u.connected_line.id.name.valid)
			return sub->u.connected_line.id.name.str;
	}
	return "";
}

static void answer_call(struct pri *pri, const pri_event_ring *ring)
{
	int channel = ring->channel < 0 ? call_channel : ring->channel;

	call = ring->call;
	pri_acknowledge(pri, call, channel, 0);
	printf("CALL SENT ALERTING\n");
	if (call_name) {
		struct pri_party_connected_line connected;

		memset(&connected, 0, sizeof(connected));
		connected.id.name.valid = 1;
		connected.id.name.presentation = PRI_PRES_ALLOWED;
		connected.id.name.char_set = 1;
		snprintf(connected.id.name.str, sizeof(connected.id.name.str), "%s", call_name);
		pri_connected_line_update(pri, call, &connected);
	}
	pri_answer(pri, call, channel, 0);
	printf("CALL SENT CONNECT\n");
	schedule_hangup();
}

/* Our placed call `c` is gone: the script's next one goes, if any is left. */
static void call_cleared(struct pri *pri, q931_call *c)
{
	if (call != c)
		return;
	call = NULL;
	if (call_number && calls_placed < calls_wanted)
		place_call(pri);
}

/* One call event: print it and follow the script. */
static void call_event(struct pri *pri, pri_event *ev)
{
	switch (ev->e) {
	case PRI_EVENT_RING:
		printf("CALL RING channel=%d called=%s calling=%s name=%s\n", ev->ring.channel & 0xff,
		       ev->ring.callednum, ev->ring.callingnum, ev->ring.callingname);
		if (call_answer)
			answer_call(pri, &ev->ring);
		else
			call = ev->ring.call;
		break;
	case PRI_EVENT_PROCEEDING:
		printf("CALL PROCEEDING channel=%d\n", ev->proceeding.channel & 0xff);
		break;
	case PRI_EVENT_PROGRESS:
		printf("CALL PROGRESS channel=%d\n", ev->proceeding.channel & 0xff);
		break;
	case PRI_EVENT_RINGING:
		printf("CALL RINGING channel=%d\n", ev->ringing.channel & 0xff);
		break;
	case PRI_EVENT_ANSWER:
		printf("CALL ANSWER channel=%d connected_name=%s\n", ev->answer.channel & 0xff,
		       connected_name(ev->answer.subcmds));
		schedule_hangup();
		break;
	case PRI_EVENT_CONNECT_ACK:
		printf("CALL CONNECT_ACK\n");
		break;
	case PRI_EVENT_HANGUP_REQ:
		/* DISCONNECT received: libpri answers RELEASE when told to hang up. */
		printf("CALL HANGUP_REQ cause=%d\n", ev->hangup.cause);
		hangup_at = 0;
		pri_hangup(pri, ev->hangup.call, ev->hangup.cause);
		break;
	case PRI_EVENT_HANGUP:
		/* RELEASE or RELEASE COMPLETE received: pri_hangup frees the call. */
		printf("CALL HANGUP cause=%d\n", ev->hangup.cause);
		hangup_at = 0;
		pri_hangup(pri, ev->hangup.call, ev->hangup.cause);
		call_cleared(pri, ev->hangup.call);
		break;
	case PRI_EVENT_HANGUP_ACK:
		printf("CALL HANGUP_ACK cause=%d\n", ev->hangup.cause);
		call_cleared(pri, ev->hangup.call);
		break;
	default:
		printf("EVENT %d\n", ev->e);
		break;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr;
	struct pri *pri;
	int fd, node, dahdi = 0, debug = PRI_DEBUG_APDU | PRI_DEBUG_Q931_DUMP | PRI_DEBUG_Q931_ANOMALY;
	int switchtype = PRI_SWITCH_QSIG;

	for (int i = 3; i < argc; i++) {
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "lean")) {
			debug = PRI_DEBUG_APDU;
			lean = 1;
		} else if (!strcmp(opt, "--etsi")) {
			switchtype = PRI_SWITCH_EUROISDN_E1;
		} else if (!strcmp(opt, "--exclusive")) {
			call_exclusive = 1;
		} else if (!strcmp(opt, "--alaw")) {
			call_alaw = 1;
		} else if (!strcmp(opt, "--answer")) {
			call_answer = 1;
		} else if (val && !strcmp(opt, "--call")) {
			call_number = argv[++i];
		} else if (val && !strcmp(opt, "--calling")) {
			calling_number = argv[++i];
		} else if (val && !strcmp(opt, "--name")) {
			call_name = argv[++i];
		} else if (val && !strcmp(opt, "--channel")) {
			call_channel = atoi(argv[++i]);
		} else if (val && !strcmp(opt, "--mwi")) {
			mwi_number = argv[++i];
		} else if (val && !strcmp(opt, "--hangup-after")) {
			hangup_after = atol(argv[++i]);
		} else if (val && !strcmp(opt, "--calls")) {
			calls_wanted = atol(argv[++i]);
		} else {
			fprintf(stderr, "libpri-pbx: unknown or incomplete option %s\n", opt);
			return 2;
		}
	}
	if (argc < 3 || (strcmp(argv[2], "network") && strcmp(argv[2], "cpe"))) {
		fprintf(stderr,
			"usage: %s SOCKET_PATH|-|dahdi:CHANNEL network|cpe [lean] [--etsi] [--call NUMBER] "
			"[--calling NUMBER] [--name NAME] [--channel N] [--exclusive] [--alaw] "
			"[--answer] [--mwi NUMBER] [--hangup-after MS] [--calls N]\n",
			argv[0]);
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
	pri = pri_new_cb(fd, node, switchtype, dahdi ? dahdi_read_cb : read_cb,
			 dahdi ? dahdi_write_cb : write_cb, NULL);
	if (!pri) {
		fprintf(stderr, "pri_new_cb failed\n");
		return 1;
	}
	pri_set_debug(pri, debug);
	/* libpri sends Facility IEs (QSIG names among them) only when told to. */
	if (call_name)
		pri_facility_enable(pri);
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
		if (hangup_at) {
			long long left = hangup_at - now_ms();

			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		if (poll(&pfd, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return 1;
		}
		if (hangup_at && now_ms() >= hangup_at) {
			hangup_at = 0;
			if (call) {
				pri_hangup(pri, call, PRI_CAUSE_NORMAL_CLEARING);
				printf("CALL SENT HANGUP\n");
			}
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
			if (call_number && !call)
				place_call(pri);
			if (mwi_number)
				send_mwi(pri);
			break;
		case PRI_EVENT_DCHAN_DOWN:
			printf("DCHAN_DOWN\n");
			break;
		default:
			call_event(pri, ev);
			break;
		}
	}
	return 0;
}
