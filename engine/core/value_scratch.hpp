// A variable of a port's type assigned from a Value, for code that knows the type only at run
// time: the types with a Value form (arithmetic, bool, string, Value), which are the only ones a
// connector or a Value handle converts.
#pragma once

#include <patchbay/port.hpp>
#include <patchbay/value.hpp>

#include <cstddef>
#include <string>
#include <typeinfo>

#include "core/port_access.hpp"

namespace patchbay::detail {

class ValueScratch {
 public:
  /// Storage holding `value` as a `type`, valid until the next call; nullptr when the value
  /// does not fit the type or the type has no Value form.
  [[nodiscard]] const void* assign(const Value& value, const PortType& type) {
    const auto assign_from_value = PortAccess::codec(type).assign_from_value;
    if (assign_from_value == nullptr) return nullptr;
    void* storage = *type.cpp_type == typeid(std::string) ? static_cast<void*>(&text_)
                    : *type.cpp_type == typeid(Value)     ? static_cast<void*>(&value_)
                                                          : static_cast<void*>(number_);
    return assign_from_value(value, storage) ? storage : nullptr;
  }

 private:
  alignas(std::max_align_t) std::byte number_[sizeof(long double)] = {};
  std::string text_;
  Value value_;
};

}  // namespace patchbay::detail
