#pragma once
// file_desc: a move-only owner of a file descriptor (a map, a program, a
// socket, a lock). After Seastar's file_desc.

#include <unistd.h>

#include <utility>

namespace xlb {

class file_desc {
public:
    file_desc() noexcept = default;
    explicit file_desc(int fd) noexcept : _fd(fd) {}
    file_desc(file_desc&& o) noexcept : _fd(std::exchange(o._fd, -1)) {}
    file_desc& operator=(file_desc&& o) noexcept {
        if (this != &o) {
            reset();
            _fd = std::exchange(o._fd, -1);
        }
        return *this;
    }
    file_desc(const file_desc&) = delete;
    file_desc& operator=(const file_desc&) = delete;
    ~file_desc() { reset(); }

    [[nodiscard]] int get() const noexcept { return _fd; }
    [[nodiscard]] bool valid() const noexcept { return _fd >= 0; }
    explicit operator bool() const noexcept { return valid(); }
    int release() noexcept { return std::exchange(_fd, -1); }
    void reset() noexcept {
        if (_fd >= 0) {
            ::close(_fd);
            _fd = -1;
        }
    }

private:
    int _fd = -1;
};

} // namespace xlb
