// SPDX-License-Identifier: BSL-1.0
/// \file bridge/dds.hpp
/// A thin C++ layer over Cyclone DDS's C API (0.10): RAII handles and retcode checks.
///
/// Design: an Entity owns one dds_entity_t (participant, topic, reader, writer, waitset,
/// condition) and dds_delete()s it when destroyed; deleting a participant deletes everything
/// made under it, so the process holds one Participant and destroys it last. Cyclone's
/// entities are thread-safe: dds_write, dds_take and dds_wait_for_acks may be called from any
/// thread. Set-up calls that fail throw venom::error(errc::system_failure, "dds_...: " +
/// dds_strretcode(rc) + what to do); hot paths (write, take) return the retcode instead.
/// A peer that dies or stalls is Cyclone's to detect (leases); nothing here waits unbounded:
/// every blocking call takes a timeout (dds_waitset_wait, dds_wait_for_acks, and a writer's
/// max_blocking_time).
#pragma once

#include <venom/error.hpp>

#include <dds/dds.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace venom_bridge {

/// Throws venom::error(system_failure) when rc is a DDS error (negative); returns rc.
inline dds_return_t dds_check(dds_return_t rc, const char* what, const char* todo = nullptr) {
    if (rc >= 0) return rc;
    std::string text = std::string(what) + ": " + dds_strretcode(rc);
    if (todo != nullptr) text += std::string("; ") + todo;
    throw venom::error(venom::errc::system_failure, text);
}

/// Nanoseconds as a dds_duration_t.
inline dds_duration_t dds_ns(std::chrono::nanoseconds d) noexcept {
    return static_cast<dds_duration_t>(d.count());
}

/// One DDS entity, deleted with its owner. Movable, not copyable.
class Entity {
public:
    Entity() noexcept = default;
    /// Takes ownership of the entity `e` returned by a dds_create_* call (a negative value is
    /// that call's error: thrown with `what`).
    Entity(dds_entity_t e, const char* what, const char* todo = nullptr)
        : e_(dds_check(e, what, todo)) {}
    Entity(Entity&& o) noexcept : e_(std::exchange(o.e_, 0)) {}
    Entity& operator=(Entity&& o) noexcept {
        if (this != &o) {
            reset();
            e_ = std::exchange(o.e_, 0);
        }
        return *this;
    }
    Entity(const Entity&) = delete;
    Entity& operator=(const Entity&) = delete;
    ~Entity() { reset(); }

    dds_entity_t get() const noexcept { return e_; }
    explicit operator bool() const noexcept { return e_ > 0; }
    /// Deletes the entity now (and, for a participant, everything under it).
    void reset() noexcept {
        if (e_ > 0) (void)dds_delete(e_);
        e_ = 0;
    }

private:
    dds_entity_t e_ = 0;
};

/// A dds_qos_t, freed when destroyed.
class Qos {
public:
    Qos() : q_(dds_create_qos()) {
        if (q_ == nullptr)
            throw venom::error(venom::errc::system_failure, "dds_create_qos: out of memory");
    }
    Qos(const Qos&) = delete;
    Qos& operator=(const Qos&) = delete;
    ~Qos() { dds_delete_qos(q_); }
    dds_qos_t* get() const noexcept { return q_; }

private:
    dds_qos_t* q_;
};

/// A 64-bit hash of a GUID (FNV-1a over its 16 bytes): the base of origin and mirror tags.
inline std::uint64_t guid_hash(const dds_guid_t& g) noexcept {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char b : g.v) {
        h ^= b;
        h *= 1099511628211ull;
    }
    return h;
}

/// The GUID of entity e, as hex (for events).
inline std::string guid_text(const dds_guid_t& g) {
    static const char* const digits = "0123456789abcdef";
    std::string s;
    for (unsigned char b : g.v) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

} // namespace venom_bridge
