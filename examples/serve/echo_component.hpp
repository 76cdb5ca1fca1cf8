// The tutorial's echo deployment (Ray Serve), as a component: one reply per request.
#pragma once

#include <patchbay/patchbay.hpp>

#include <string>

class Echo : public patchbay::Component {
 public:
  using Component::Component;
  patchbay::Input<std::string> data{this, "data"};
  patchbay::Output<std::string> text{this, "text"};
  void step() override { text = "Received data: " + data.value(); }
};
