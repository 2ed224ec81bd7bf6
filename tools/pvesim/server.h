// pvesim's HTTPS front: a self-signed certificate made at start, /api2/json/* to the Simulator,
// /_sim/* to its admin API.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "tools/pvesim/simulator.h"

namespace pvt::sim {

class Server {
 public:
  // `https` false serves plain HTTP (for debugging with curl without -k).
  Server(Simulator& sim, bool https);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (0 = ephemeral); returns the bound port or an error.
  Result<int> bind(const std::string& host, int port);
  void start();  // serves on a thread
  void stop();

  const std::string& fingerprint() const { return fingerprint_; }  // "AA:BB:..." SHA-256
  bool https() const { return https_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool https_;
  std::string fingerprint_;
  std::thread thread_;
};

}  // namespace pvt::sim
