// qhw's minimal hls::stream for C simulation with g++ (no vendor tools needed).
//
// A FIFO with the blocking/non-blocking read and write calls that Vitis HLS code uses. It models
// only the C semantics: unbounded depth, reading an empty stream aborts (in hardware it would
// deadlock). Vitis HLS users synthesize against the vendor's own <hls_stream.h> instead.
#ifndef QHW_HLS_STREAM_H
#define QHW_HLS_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {

template <typename T, int DEPTH = 0>
class stream {
 public:
  stream() : name_("hls::stream") {}
  explicit stream(const char* name) : name_(name) {}
  explicit stream(const std::string& name) : name_(name) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  bool empty() const { return fifo_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return fifo_.size(); }
  const std::string& name() const { return name_; }

  T read() {
    if (fifo_.empty()) {
      std::fprintf(stderr, "qhw hls::stream '%s': read from an empty stream (would deadlock)\n",
                   name_.c_str());
      std::abort();
    }
    T value = fifo_.front();
    fifo_.pop_front();
    return value;
  }
  void read(T& value) { value = read(); }
  bool read_nb(T& value) {
    if (fifo_.empty()) return false;
    value = read();
    return true;
  }
  void operator>>(T& value) { value = read(); }

  void write(const T& value) { fifo_.push_back(value); }
  bool write_nb(const T& value) {
    write(value);
    return true;
  }
  void operator<<(const T& value) { write(value); }

 private:
  std::deque<T> fifo_;
  std::string name_;
};

}  // namespace hls

#endif  // QHW_HLS_STREAM_H
