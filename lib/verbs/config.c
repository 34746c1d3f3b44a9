// SPDX-License-Identifier: MIT
/*
 * Device configuration, the one place the environment is read for it:
 * SOFTODP_DEVICES="name=address[,name=address...]", and per device what
 * SOFTODP_ICRC, SOFTODP_IMPAIR and SOFTODP_STATS say (sodp_config_env()).
 * The provider receives it all in struct sodp_dev_config.
 *
 * Each entry names one soft RoCE device and the local IPv4 or IPv6 address it
 * speaks RoCEv2 from (UDP port 4791 on that address). An IPv6 address may be
 * written in brackets. The address must belong to this host: it is resolved
 * to its interface for the MTU, MAC and the RoCEv2 GID.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "verbs.h"
#include "log.h"

static bool valid_dev_name(const char *name, size_t len)
{
	if (len == 0 || len >= IBV_SYSFS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (!isalnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

static int parse_address(const char *s, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(s);
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (len >= sizeof(buf))
		return -EINVAL;
	if (len > 2 && s[0] == '[' && s[len - 1] == ']') {
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int sodp_parse_devices(const char *spec, struct sodp_dev_config *out, int max, char *err,
		       size_t errlen)
{
	const char *p = spec;
	int n = 0;

	if (!spec || !out || max <= 0)
		return -EINVAL;
	if (err && errlen)
		err[0] = '\0';

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char entry[256];
		char *eq;

		if (len >= sizeof(entry)) {
			snprintf(err, errlen, "SOFTODP_DEVICES entry '%.40s...' is too long", p);
			return -EINVAL;
		}
		memcpy(entry, p, len);
		entry[len] = '\0';
		p += len + (end ? 1 : 0);
		if (len == 0) {
			if (!end && n > 0)
				break; /* a trailing comma */
			snprintf(err, errlen, "SOFTODP_DEVICES has an empty entry");
			return -EINVAL;
		}

		eq = strchr(entry, '=');
		if (!eq) {
			snprintf(err, errlen, "SOFTODP_DEVICES entry '%s' is not name=address",
				 entry);
			return -EINVAL;
		}
		*eq = '\0';
		if (!valid_dev_name(entry, strlen(entry))) {
			snprintf(err, errlen,
				 "SOFTODP_DEVICES entry '%s=%s': bad device name (1-63 of "
				 "[A-Za-z0-9_.-])",
				 entry, eq + 1);
			return -EINVAL;
		}
		if (n == max) {
			snprintf(err, errlen, "SOFTODP_DEVICES entry '%s=%s': more than %d devices",
				 entry, eq + 1, max);
			return -E2BIG;
		}
		memset(&out[n], 0, sizeof(out[n]));
		if (parse_address(eq + 1, &out[n].addr)) {
			snprintf(err, errlen,
				 "SOFTODP_DEVICES entry '%s=%s': not an IPv4 or IPv6 address",
				 entry, eq + 1);
			return -EINVAL;
		}
		for (int i = 0; i < n; i++) {
			if (!strcmp(out[i].name, entry)) {
				snprintf(err, errlen,
					 "SOFTODP_DEVICES entry '%s=%s': device name used twice",
					 entry, eq + 1);
				return -EINVAL;
			}
		}
		strcpy(out[n].name, entry);
		n++;
	}
	if (n == 0) {
		snprintf(err, errlen, "SOFTODP_DEVICES is empty");
		return -EINVAL;
	}
	return n;
}

/* Does @ifa's prefix contain @ss? Used for 127.0.0.0/8 on lo. */
static bool in_prefix(const struct ifaddrs *ifa, const struct sockaddr_storage *ss)
{
	uint32_t a, m, x;

	if (ss->ss_family != AF_INET || ifa->ifa_addr->sa_family != AF_INET || !ifa->ifa_netmask)
		return false;
	a = ((const struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
	m = ((const struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr;
	x = ((const struct sockaddr_in *)ss)->sin_addr.s_addr;
	return (a & m) == (x & m);
}

static void addr_to_gid(const struct sockaddr_storage *ss, union ibv_gid *gid)
{
	memset(gid, 0, sizeof(*gid));
	if (ss->ss_family == AF_INET) {
		gid->raw[10] = 0xff;
		gid->raw[11] = 0xff;
		memcpy(&gid->raw[12], &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else {
		memcpy(gid->raw, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
}

/*
 * The node GUID is the modified EUI-64 of the interface MAC, as RoCE devices
 * use; loopback has no MAC, so the address itself is folded in instead, which
 * keeps the GUID stable and distinct per configured address.
 */
static __be64 make_guid(const struct sodp_dev_config *cfg)
{
	uint8_t g[8];
	__be64 v;

	if (cfg->mac[0] | cfg->mac[1] | cfg->mac[2] | cfg->mac[3] | cfg->mac[4] | cfg->mac[5]) {
		g[0] = cfg->mac[0] ^ 2;
		g[1] = cfg->mac[1];
		g[2] = cfg->mac[2];
		g[3] = 0xff;
		g[4] = 0xfe;
		g[5] = cfg->mac[3];
		g[6] = cfg->mac[4];
		g[7] = cfg->mac[5];
	} else {
		uint32_t h = 2166136261u;

		for (int i = 0; i < 16; i++)
			h = (h ^ cfg->gid.raw[i]) * 16777619u;
		g[0] = 0x02;
		g[1] = 0x50; /* locally administered, "softodp" */
		g[2] = 0xd0;
		g[3] = 0xff;
		g[4] = (uint8_t)(h >> 24);
		g[5] = (uint8_t)(h >> 16);
		g[6] = (uint8_t)(h >> 8);
		g[7] = (uint8_t)h;
	}
	memcpy(&v, g, sizeof(v));
	return v;
}

int sodp_resolve_device(struct sodp_dev_config *cfg, char *err, size_t errlen)
{
	struct ifaddrs *ifs, *ifa, *match = NULL;
	char addr[INET6_ADDRSTRLEN];
	struct ifreq ifr;
	int fd;

	if (cfg->addr.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&cfg->addr)->sin_addr, addr,
			  sizeof(addr));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&cfg->addr)->sin6_addr, addr,
			  sizeof(addr));

	if (getifaddrs(&ifs)) {
		snprintf(err, errlen, "device %s: cannot list interfaces: %s", cfg->name,
			 strerror(errno));
		return -errno;
	}
	for (ifa = ifs; ifa; ifa = ifa->ifa_next) {
		if (ifa->ifa_addr &&
		    sodp_same_ip(ifa->ifa_addr, (const struct sockaddr *)&cfg->addr)) {
			match = ifa;
			break;
		}
	}
	for (ifa = ifs; !match && ifa; ifa = ifa->ifa_next) {
		if (ifa->ifa_addr && (ifa->ifa_flags & IFF_LOOPBACK) && in_prefix(ifa, &cfg->addr))
			match = ifa;
	}
	if (!match) {
		freeifaddrs(ifs);
		snprintf(err, errlen,
			 "SOFTODP_DEVICES entry '%s=%s': no local interface has this address",
			 cfg->name, addr);
		return -EADDRNOTAVAIL;
	}
	snprintf(cfg->ifname, sizeof(cfg->ifname), "%s", match->ifa_name);
	cfg->ifindex = if_nametoindex(match->ifa_name);
	if (cfg->addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&cfg->addr)->sin6_scope_id =
			IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)&cfg->addr)->sin6_addr)
				? cfg->ifindex
				: 0;
	freeifaddrs(ifs);

	cfg->if_mtu = 1500;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->ifname);
		if (!ioctl(fd, SIOCGIFMTU, &ifr))
			cfg->if_mtu = ifr.ifr_mtu;
		if (!ioctl(fd, SIOCGIFHWADDR, &ifr))
			memcpy(cfg->mac, ifr.ifr_hwaddr.sa_data, 6);
		close(fd);
	}
	addr_to_gid(&cfg->addr, &cfg->gid);
	cfg->node_guid = make_guid(cfg);
	return 0;
}

int sodp_parse_impair(const char *spec, struct sodp_impair *im)
{
	char buf[256], *save = NULL, *tok;

	memset(im, 0, sizeof(*im));
	im->seed = 1;
	if (!spec || !*spec)
		return 0;
	if (strlen(spec) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long v;
		char *eq = strchr(tok, '='), *end;

		if (!eq)
			return -EINVAL;
		*eq = 0;
		v = strtoull(eq + 1, &end, 0);
		if (*end == '%')
			end++;
		if (*end)
			return -EINVAL;
		if (!strcmp(tok, "drop") && v <= 100)
			im->drop = v;
		else if (!strcmp(tok, "dup") && v <= 100)
			im->dup = v;
		else if (!strcmp(tok, "reorder") && v <= 100)
			im->reorder = v;
		else if (!strcmp(tok, "seed"))
			im->seed = v ? v : 1;
		else
			return -EINVAL;
	}
	im->on = im->drop || im->dup || im->reorder;
	return 0;
}

/*
 * Fills the environment's part of @cfg. A bad value is named on stderr and
 * leaves the default (no impairment, the default ICRC check).
 */
void sodp_config_env(struct sodp_dev_config *cfg)
{
	const char *icrc = getenv("SOFTODP_ICRC"), *stats = getenv("SOFTODP_STATS");

	cfg->icrc = SODP_ICRC_RECOVER_ID;
	if (icrc && !strcmp(icrc, "strict"))
		cfg->icrc = SODP_ICRC_STRICT;
	else if (icrc && !strcmp(icrc, "off"))
		cfg->icrc = SODP_ICRC_OFF;
	else if (icrc && *icrc)
		sodp_warn("%s: ignoring SOFTODP_ICRC=%s (strict or off)\n", cfg->name, icrc);
	if (sodp_parse_impair(getenv("SOFTODP_IMPAIR"), &cfg->impair))
		sodp_warn("%s: ignoring bad SOFTODP_IMPAIR\n", cfg->name);
	cfg->report_stats = stats && atoi(stats) > 0;
}
