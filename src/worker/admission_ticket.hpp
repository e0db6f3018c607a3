#pragma once

#include "sys/cidr.hpp"

namespace echod {

class Admission;

// What one admitted connection holds of the shared admission budget: one unit of
// max_connections and, when counted(), one slot of its client address's per-address limit.
// Move-only; gives back exactly what it holds, exactly once, when destroyed or reset() (in
// practice: when the connection that holds it closes). Whether it is counted is settled at
// admission: a reload that changes limits.exempt meanwhile does not change what it gives back.
//
// Thread contract: may be released on any thread (Admission is thread-safe); the Admission that
// issued it must outlive it.
class AdmissionTicket {
 public:
  AdmissionTicket() = default;  // holds nothing
  AdmissionTicket(const AdmissionTicket&) = delete;
  AdmissionTicket& operator=(const AdmissionTicket&) = delete;
  AdmissionTicket(AdmissionTicket&& other) noexcept
      : admission_(other.admission_), peer_(other.peer_), counted_(other.counted_) {
    other.admission_ = nullptr;
  }
  AdmissionTicket& operator=(AdmissionTicket&& other) noexcept {
    if (this != &other) {
      reset();
      admission_ = other.admission_;
      peer_ = other.peer_;
      counted_ = other.counted_;
      other.admission_ = nullptr;
    }
    return *this;
  }
  ~AdmissionTicket() { reset(); }

  // Gives the budget back now (if any is held).
  void reset() noexcept;

  [[nodiscard]] bool held() const noexcept { return admission_ != nullptr; }
  // Holds one of its address's per-address slots (not exempt, and the address was tracked).
  [[nodiscard]] bool counted() const noexcept { return counted_; }

 private:
  friend class Admission;
  AdmissionTicket(Admission& admission, const PeerKey& peer, bool counted) noexcept
      : admission_(&admission), peer_(peer), counted_(counted) {}

  Admission* admission_ = nullptr;
  PeerKey peer_{};
  bool counted_ = false;
};

}  // namespace echod
