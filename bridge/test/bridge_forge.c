/* SPDX-License-Identifier: BSL-1.0
 * bridge/test/bridge_forge.c - writes malformed but well-formed-CDR samples onto venom_bridge's
 * topics (types from bridge/venom_bridge.idl, compiled by idlc), for bridge_test.sh scenario 9.
 *
 *   bridge_forge CHANNEL [--domain N] [--lease MS] [--wait-ms MS]
 *
 * It reads CHANNEL's announcement (venom/announce, transient-local) for the export's origin tag,
 * version and config, then writes
 *   5 StateChunks of that origin, for versions above the current one, each wrong in one way
 *     (count 0; index >= count; offset != index * chunk_size; bad crc32c; offset + length >
 *     total_length): none may complete a version: the mirror's state must not change;
 *   5 Requests an exporter must refuse (a command over max_cmd_size; slot == max_clients;
 *     slot 0xfffffffe; channel names "bad/name" and ""): none may reach the origin daemon;
 *   5 Answers for a dead incarnation of the importer's mirror: the tag of a Request the
 *     importer sends meanwhile (the test makes a remote shell send some), with the incarnation
 *     counter (its low 24 bits, bridge/context.hpp) one below (or, for the first, one above):
 *     none may be delivered, each counts as stale_answer.
 * Waits (bounded) for each writer to match a reader and for acks, prints one JSON line, exits 0
 * once everything was written and acknowledged, 1 otherwise. Every wait is bounded by --wait-ms.
 * The network settings come from CYCLONEDDS_URI (the test sets the interface).
 *
 *   bridge_forge --announce CHANNEL --origin O --data-size N --access A [--hold-ms MS]
 *                [--domain N] [--lease MS] [--wait-ms MS]
 *
 * writes one live announcement of CHANNEL as an exporter would (reliable, transient-local,
 * keep-last 1, automatic liveliness), with origin O, data_size N and access A (0 owner_only,
 * 1 group, 2 everyone; an importer must ignore it), the other fields small and valid; waits
 * for a match and the ack, prints one JSON line, keeps the writer alive for --hold-ms (default
 * 0), then exits (0: matched and acknowledged). For bridge_test.sh scenario 11. */
#include "venom_bridge.h"

#include <dds/dds.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORGE_COUNT 5

static uint32_t crc32c(const unsigned char* p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int check(dds_return_t rc, const char* what) {
    if (rc < 0) {
        printf("{\"cmd\":\"forge\",\"ok\":false,\"error\":\"%s: %s\"}\n", what, dds_strretcode(rc));
        exit(1);
    }
    return rc;
}

/* Waits until writer w matches a reader; returns whether it did within ms. */
static int wait_matched(dds_entity_t w, int64_t ms) {
    const int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        dds_publication_matched_status_t st;
        if (dds_get_publication_matched_status(w, &st) >= 0 && st.current_count > 0) return 1;
        dds_sleepfor(DDS_MSECS(10));
    }
    return 0;
}

static int announce_mode(int argc, char** argv) {
    const char* channel = argv[2];
    uint32_t domain = 0, access = 0;
    int64_t lease_ms = 500, wait_ms = 5000, hold_ms = 0;
    uint64_t origin = 1, data_size = 4096;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--domain") == 0) domain = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--lease") == 0) lease_ms = strtoll(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--wait-ms") == 0) wait_ms = strtoll(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--hold-ms") == 0) hold_ms = strtoll(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--origin") == 0) origin = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--data-size") == 0) data_size = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--access") == 0) access = (uint32_t)strtoul(argv[i + 1], NULL, 10);
    }
    if (hold_ms < 0 || hold_ms > 60000) hold_ms = 0; /* bounded */
    const dds_entity_t pp = check(dds_create_participant(domain, NULL, NULL), "dds_create_participant");
    const dds_entity_t t_ann = check(dds_create_topic(pp, &venom_bridge_Announce_desc, "venom/announce", NULL, NULL), "topic announce");
    dds_qos_t* q = dds_create_qos();
    dds_qset_reliability(q, DDS_RELIABILITY_RELIABLE, DDS_SECS(1));
    dds_qset_durability(q, DDS_DURABILITY_TRANSIENT_LOCAL);
    dds_qset_history(q, DDS_HISTORY_KEEP_LAST, 1);
    dds_qset_liveliness(q, DDS_LIVELINESS_AUTOMATIC, DDS_MSECS(lease_ms));
    const dds_entity_t w = check(dds_create_writer(pp, t_ann, q, NULL), "writer announce");
    dds_delete_qos(q);
    const int64_t end = now_ms() + wait_ms;
    const int matched = wait_matched(w, wait_ms);
    venom_bridge_Announce a;
    memset(&a, 0, sizeof a);
    snprintf(a.channel, sizeof a.channel, "%s", channel);
    a.origin = origin;
    a.alive = 1;
    a.data_size = data_size;
    a.cmd_slots = 4;
    a.max_clients = 4;
    a.max_cmd_size = 1024;
    a.max_response_size = 1024;
    a.state_buffers = 3;
    a.access = access;
    a.claim_timeout_ns = 5000000;
    a.spin_time_ns = 0;
    a.version = 0;
    a.chunk_size = 1048576;
    const int written = dds_write(w, &a) >= 0;
    const int64_t left = end - now_ms();
    const int acked = written && dds_wait_for_acks(w, DDS_MSECS(left > 100 ? left : 100)) >= 0;
    const int ok = matched && written && acked;
    printf("{\"cmd\":\"forge-announce\",\"ok\":%s,\"channel\":\"%s\",\"origin\":%llu,\"data_size\":%llu,"
           "\"access\":%u,\"matched\":%d}\n",
           ok ? "true" : "false", channel, (unsigned long long)origin, (unsigned long long)data_size, access, matched);
    fflush(stdout);
    if (hold_ms > 0) dds_sleepfor(DDS_MSECS(hold_ms));
    dds_delete(pp);
    return ok ? 0 : 1;
}

int main(int argc, char** argv) {
    if (argc >= 3 && strcmp(argv[1], "--announce") == 0) return announce_mode(argc, argv);
    if (argc < 2) {
        fprintf(stderr, "usage: bridge_forge CHANNEL [--domain N] [--lease MS] [--wait-ms MS]\n");
        return 2;
    }
    const char* channel = argv[1];
    uint32_t domain = 0;
    int64_t lease_ms = 500, wait_ms = 5000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--domain") == 0) domain = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--lease") == 0) lease_ms = strtoll(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--wait-ms") == 0) wait_ms = strtoll(argv[i + 1], NULL, 10);
    }
    const dds_entity_t pp = check(dds_create_participant(domain, NULL, NULL), "dds_create_participant");
    const dds_entity_t t_state = check(dds_create_topic(pp, &venom_bridge_StateChunk_desc, "venom/state", NULL, NULL), "topic state");
    const dds_entity_t t_req = check(dds_create_topic(pp, &venom_bridge_Request_desc, "venom/request", NULL, NULL), "topic request");
    const dds_entity_t t_ans = check(dds_create_topic(pp, &venom_bridge_Answer_desc, "venom/answer", NULL, NULL), "topic answer");
    const dds_entity_t t_ann = check(dds_create_topic(pp, &venom_bridge_Announce_desc, "venom/announce", NULL, NULL), "topic announce");

    /* The announcement: reliable, transient-local, keep-last 1 (as the exporter writes it). */
    dds_qos_t* aq = dds_create_qos();
    dds_qset_reliability(aq, DDS_RELIABILITY_RELIABLE, DDS_SECS(1));
    dds_qset_durability(aq, DDS_DURABILITY_TRANSIENT_LOCAL);
    dds_qset_history(aq, DDS_HISTORY_KEEP_LAST, 1);
    const dds_entity_t r_ann = check(dds_create_reader(pp, t_ann, aq, NULL), "reader announce");
    dds_delete_qos(aq);
    /* Requests, to learn the importer's mirror tag. */
    dds_qos_t* rq = dds_create_qos();
    dds_qset_reliability(rq, DDS_RELIABILITY_RELIABLE, DDS_SECS(1));
    dds_qset_history(rq, DDS_HISTORY_KEEP_ALL, 0);
    dds_qset_durability(rq, DDS_DURABILITY_VOLATILE);
    const dds_entity_t r_req = check(dds_create_reader(pp, t_req, rq, NULL), "reader request");
    dds_delete_qos(rq);

    venom_bridge_Announce ann;
    memset(&ann, 0, sizeof ann);
    int have_ann = 0;
    const int64_t end = now_ms() + wait_ms;
    while (!have_ann && now_ms() < end) {
        void* samples[8] = {0};
        dds_sample_info_t infos[8];
        const dds_return_t n = dds_take(r_ann, samples, infos, 8, 8);
        for (dds_return_t i = 0; i < n; ++i) {
            const venom_bridge_Announce* a = samples[i];
            if (infos[i].valid_data && a->alive && strcmp(a->channel, channel) == 0) {
                ann.origin = a->origin;
                ann.version = a->version;
                ann.max_clients = a->max_clients;
                ann.max_cmd_size = a->max_cmd_size;
                ann.chunk_size = a->chunk_size;
                ann.data_size = a->data_size;
                have_ann = 1;
            }
        }
        if (n > 0) dds_return_loan(r_ann, samples, n);
        if (!have_ann) dds_sleepfor(DDS_MSECS(10));
    }
    if (!have_ann) {
        printf("{\"cmd\":\"forge\",\"ok\":false,\"error\":\"no live announcement of %s within %lld ms\"}\n",
               channel, (long long)wait_ms);
        return 1;
    }

    /* Writers: reliable, keep-all, volatile; liveliness offered within the readers' lease. */
    dds_qos_t* wq = dds_create_qos();
    dds_qset_reliability(wq, DDS_RELIABILITY_RELIABLE, DDS_SECS(1));
    dds_qset_history(wq, DDS_HISTORY_KEEP_ALL, 0);
    dds_qset_durability(wq, DDS_DURABILITY_VOLATILE);
    dds_qset_liveliness(wq, DDS_LIVELINESS_AUTOMATIC, DDS_MSECS(lease_ms));
    const dds_entity_t w_state = check(dds_create_writer(pp, t_state, wq, NULL), "writer state");
    const dds_entity_t w_req = check(dds_create_writer(pp, t_req, wq, NULL), "writer request");
    const dds_entity_t w_ans = check(dds_create_writer(pp, t_ans, wq, NULL), "writer answer");
    dds_delete_qos(wq);
    const int m_state = wait_matched(w_state, end - now_ms());
    const int m_req = wait_matched(w_req, end - now_ms());
    const int m_ans = wait_matched(w_ans, end - now_ms());

    /* The importer's current mirror tag, from one of its requests. */
    uint64_t tag = 0;
    while (tag == 0 && now_ms() < end) {
        void* samples[16] = {0};
        dds_sample_info_t infos[16];
        const dds_return_t n = dds_take(r_req, samples, infos, 16, 16);
        for (dds_return_t i = 0; i < n; ++i) {
            const venom_bridge_Request* q = samples[i];
            if (infos[i].valid_data && strcmp(q->channel, channel) == 0 && q->mirror != 0x0f0f0f0f0f0f0f0full)
                tag = q->mirror;
        }
        if (n > 0) dds_return_loan(r_req, samples, n);
        if (tag == 0) dds_sleepfor(DDS_MSECS(10));
    }
    const uint64_t counter_mask = (1ull << 24) - 1;
    const uint64_t counter = tag & counter_mask;
    const uint64_t dead = (tag & ~counter_mask) | ((counter > 1 ? counter - 1 : counter + 1) & counter_mask);

    unsigned char bytes[64];
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = (unsigned char)('F' + i % 7);
    const uint32_t chunk = ann.chunk_size != 0 ? ann.chunk_size : 1048576u;
    int written = 0;

    /* 5 bad chunks, each for its own new version (so a bad one cannot pass as part of another) */
    for (int k = 0; k < FORGE_COUNT; ++k) {
        venom_bridge_StateChunk c;
        memset(&c, 0, sizeof c);
        snprintf(c.channel, sizeof c.channel, "%s", channel);
        c.origin = ann.origin;
        c.version = ann.version + 1000 + (uint64_t)k;
        c.total_length = 16;
        c.offset = 0;
        c.index = 0;
        c.count = 1;
        c.bytes._buffer = bytes;
        c.bytes._length = 16;
        c.bytes._maximum = 16;
        c.crc32c = crc32c(bytes, 16);
        switch (k) {
        case 0: c.count = 0; break;                       /* count 0 */
        case 1: c.index = 5; c.count = 2; c.total_length = (uint64_t)chunk + 16; c.offset = 5ull * chunk; break; /* index >= count */
        case 2: c.offset = 7; c.total_length = 23; break;  /* offset != index * chunk_size */
        case 3: c.crc32c ^= 1u; break;                     /* bad crc */
        case 4: c.total_length = 8; break;                 /* offset + length > total */
        }
        if (dds_write(w_state, &c) >= 0) ++written;
    }
    /* 5 requests to refuse; each is "mark forged-K" (padded for the oversize one), so an origin
     * daemon that ran one would list it in its marks (bridge_probe echo-daemon "stats"). */
    unsigned char* big = calloc((size_t)ann.max_cmd_size + 1, 1);
    char marks[FORGE_COUNT][16];
    for (int k = 0; k < FORGE_COUNT; ++k) {
        venom_bridge_Request r;
        memset(&r, 0, sizeof r);
        snprintf(r.channel, sizeof r.channel, "%s", channel);
        r.mirror = 0x0f0f0f0f0f0f0f0full;
        r.origin = ann.origin;
        r.slot = 0;
        r.request_id = 1 + (uint64_t)k;
        r.budget_ns = 0;
        snprintf(marks[k], sizeof marks[k], "mark forged-%d", k);
        r.bytes._buffer = (unsigned char*)marks[k];
        r.bytes._length = r.bytes._maximum = (uint32_t)strlen(marks[k]);
        switch (k) {
        case 0:
            memcpy(big, marks[k], strlen(marks[k]));
            r.bytes._buffer = big;
            r.bytes._length = r.bytes._maximum = ann.max_cmd_size + 1;
            break;
        case 1: r.slot = ann.max_clients; break;
        case 2: r.slot = 0xfffffffeu; break;
        case 3: snprintf(r.channel, sizeof r.channel, "%s", "bad/name"); break;
        case 4: r.channel[0] = 0; break;
        }
        if (dds_write(w_req, &r) >= 0) ++written;
    }
    /* 5 answers for a mirror tag nobody has */
    for (int k = 0; k < FORGE_COUNT; ++k) {
        venom_bridge_Answer a;
        memset(&a, 0, sizeof a);
        snprintf(a.channel, sizeof a.channel, "%s", channel);
        a.mirror = dead;
        a.slot = (uint32_t)k;
        a.request_id = 1;
        a.status = 0;
        a.state_version = 0;
        a.bytes._buffer = bytes;
        a.bytes._length = 6;
        a.bytes._maximum = 6;
        if (dds_write(w_ans, &a) >= 0) ++written;
    }
    const dds_duration_t ack = DDS_MSECS(end - now_ms() > 100 ? end - now_ms() : 100);
    const int acked = dds_wait_for_acks(w_state, ack) >= 0 && dds_wait_for_acks(w_req, ack) >= 0 &&
                      dds_wait_for_acks(w_ans, ack) >= 0;
    const int ok = written == 3 * FORGE_COUNT && acked && m_state && m_req && m_ans && tag != 0;
    printf("{\"cmd\":\"forge\",\"ok\":%s,\"written\":%d,\"acked\":%s,\"origin\":%llu,\"version\":%llu,"
           "\"mirror_tag\":%llu,\"dead_tag\":%llu,\"matched\":{\"state\":%d,\"request\":%d,\"answer\":%d}}\n",
           ok ? "true" : "false", written, acked ? "true" : "false", (unsigned long long)ann.origin,
           (unsigned long long)ann.version, (unsigned long long)tag, (unsigned long long)dead, m_state, m_req, m_ans);
    free(big);
    dds_delete(pp);
    return ok ? 0 : 1;
}
