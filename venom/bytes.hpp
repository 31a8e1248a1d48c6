// SPDX-License-Identifier: BSL-1.0
/// \file venom/bytes.hpp
/// Byte views handed to handlers, the response writer of the zero-allocation handler form, and
/// the test for "contiguous container of bytes" used by the overloads.
#pragma once

#include <venom/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace venom {

/// A read-only view of bytes (a command, inside shared memory). Valid only during the handler
/// call that receives it; copy what you keep.
class ByteView {
public:
    /// An empty view (no bytes, data() null).
    constexpr ByteView() noexcept = default;
    /// A view of the n bytes at p.
    constexpr ByteView(const std::uint8_t* p, std::size_t n) noexcept : p_(p), n_(n) {}

    constexpr const std::uint8_t* data() const noexcept { return p_; }     ///< the first byte
    constexpr std::size_t size() const noexcept { return n_; }             ///< number of bytes
    constexpr bool empty() const noexcept { return n_ == 0; }              ///< size() == 0
    constexpr const std::uint8_t* begin() const noexcept { return p_; }    ///< data()
    constexpr const std::uint8_t* end() const noexcept { return p_ + n_; } ///< data() + size()
    /// Byte i. \pre i < size() (not checked).
    constexpr std::uint8_t operator[](std::size_t i) const noexcept { return p_[i]; }

    /// The same bytes as characters (no copy: valid as long as the view).
    std::string_view as_string_view() const noexcept {
        return {reinterpret_cast<const char*>(p_), n_};
    }
    std::string to_string() const { return std::string(as_string_view()); } ///< a copy, as text
    std::vector<std::uint8_t> to_vector() const { return {p_, p_ + n_}; }   ///< a copy

    /// Whether the bytes are b's (`cmd == "ping"`).
    friend bool operator==(ByteView a, std::string_view b) noexcept {
        return a.as_string_view() == b;
    }
    /// Whether the bytes differ from b's.
    friend bool operator!=(ByteView a, std::string_view b) noexcept { return !(a == b); }

private:
    const std::uint8_t* p_ = nullptr;
    std::size_t n_ = 0;
};

/// Where a zero-allocation handler writes its answer: straight into the client's response slot.
/// Handler form: `void(std::uint32_t client_id, venom::ByteView cmd, venom::ResponseWriter& out)`.
class ResponseWriter {
public:
    /// A writer of an empty answer into the cap bytes at p. The daemon makes one per command
    /// for the handler.
    ResponseWriter(std::uint8_t* p, std::size_t cap) noexcept : p_(p), cap_(cap) {}

    /// The slot's memory: write up to capacity() bytes here, then call resize(n).
    std::uint8_t* data() noexcept { return p_; }
    std::size_t capacity() const noexcept { return cap_; } ///< max_response_size
    std::size_t size() const noexcept { return n_; }       ///< the answer's length so far

    /// Sets the answer's length. Throws message_too_large beyond capacity().
    void resize(std::size_t n) {
        if (n > cap_) throw_too_large(n);
        n_ = n;
    }
    /// Appends bytes. Throws message_too_large beyond capacity().
    void append(const void* src, std::size_t n) {
        if (n > cap_ - n_) throw_too_large(n_ + n);
        if (n != 0) std::memcpy(p_ + n_, src, n);
        n_ += n;
    }
    /// Appends the characters of s. Throws message_too_large beyond capacity().
    void append(std::string_view s) { append(s.data(), s.size()); }
    /// Makes the n bytes at src the answer. Throws message_too_large beyond capacity() (the
    /// answer is then empty).
    void assign(const void* src, std::size_t n) {
        n_ = 0;
        append(src, n);
    }

private:
    [[noreturn]] void throw_too_large(std::size_t n) const {
        throw error(errc::message_too_large, "response of " + std::to_string(n) +
                                                 " bytes; max_response_size is " +
                                                 std::to_string(cap_));
    }
    std::uint8_t* p_;
    std::size_t cap_;
    std::size_t n_ = 0;
};

namespace detail {

template <class T, class = void> struct is_byte_container : std::false_type {};
template <class T>
struct is_byte_container<T, std::void_t<decltype(std::data(std::declval<const T&>())),
                                        decltype(std::size(std::declval<const T&>()))>> {
    using elem =
        std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const T&>()))>>;
    static constexpr bool value =
        sizeof(elem) == 1 && (std::is_integral_v<elem> || std::is_same_v<elem, std::byte>);
};
/// A string literal ("ping") is a char array whose last byte is its NUL: never sent as a
/// container (that would send the NUL); the const char* overloads take it instead.
template <class T> struct is_char_array : std::false_type {};
template <std::size_t N> struct is_char_array<char[N]> : std::true_type {};
template <std::size_t N> struct is_char_array<const char[N]> : std::true_type {};

/// True for contiguous containers of 1-byte elements: std::string, std::string_view,
/// std::vector<std::uint8_t>, std::array<char, N>, ByteView, std::span<const std::byte> ...
/// (not char arrays: see is_char_array).
template <class T>
inline constexpr bool is_byte_container_v =
    is_byte_container<std::remove_cv_t<std::remove_reference_t<T>>>::value &&
    !is_char_array<std::remove_cv_t<std::remove_reference_t<T>>>::value;

} // namespace detail
} // namespace venom
