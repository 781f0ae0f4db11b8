// TLS for tls:// targets (RFC 5425: octet-counted syslog messages over a
// TLS connection), with OpenSSL, without httpd.
//
// The certificates and the key are read by the root parent when the
// configuration is read (load_credentials, so `apachectl -t` names a bad
// file), and kept in memory: a child, running as User, never opens them,
// so the key file can stay readable by root alone. Each child builds its
// own SSL_CTX from that memory (TlsContext) and one TlsStream per
// connection; the relay's certificate is always verified, against the CA
// given or the system's trust store, and must carry the relay's name.
// Nothing is ever sent unless the handshake verified the relay.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "delivery.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace syslogmod {

// What a tls:// target verifies and presents.
struct TlsCredentials {
  // As configured (ca=, cert=, key=): for messages. Empty when not given.
  std::string ca_file, cert_file, key_file;
  // Their contents, read by load_credentials().
  std::string ca_pem;    // empty: the system's trust store
  std::string cert_pem;  // the client certificate (and its chain), or empty
  std::string key_pem;   // its private key, or empty
  // The name the relay's certificate must carry: a DNS name, or an IP
  // address (then matched against the certificate's IP addresses).
  std::string peer_name;

  TlsCredentials() = default;
  TlsCredentials(const TlsCredentials&) = default;
  TlsCredentials(TlsCredentials&&) = default;
  TlsCredentials& operator=(const TlsCredentials&) = default;
  TlsCredentials& operator=(TlsCredentials&&) = default;
  // Wipes the key's text: memory freed in the parent is inherited by every
  // child, and httpd frees its configuration at each restart.
  ~TlsCredentials();
};

// Reads the files named in `c` into it and checks them: the CA file holds
// certificates, the certificate and the key are both given or neither, they
// parse, and the key is the certificate's. On failure `error` names the file
// and says what is wrong. For the parent, at config time.
bool load_credentials(TlsCredentials& c, std::string& error);

// Wipes the private key's text from `c`. A child calls it on every copy it
// holds (the target's definition, its sender's) once the sender's context
// holds the key, so that the text is nowhere in the child's memory.
void forget_private_key(TlsCredentials& c);

// One child's SSL_CTX for a target, made from credentials in memory.
class TlsContext {
 public:
  // nullptr and `error` when OpenSSL refuses them.
  static std::shared_ptr<TlsContext> make(const TlsCredentials& c, std::string& error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* get() const { return ctx_; }
  const std::string& peer_name() const { return peer_name_; }

 private:
  TlsContext() = default;
  SSL_CTX* ctx_ = nullptr;
  std::string peer_name_;
};

// One TLS connection on a connected, non-blocking socket it does not own.
class TlsStream {
 public:
  TlsStream(std::shared_ptr<TlsContext> context, int fd);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // The handshake, verifying the relay; every wait is bounded by `until`
  // and cut short by a stop. False with `error` ("certificate rejected:
  // certificate has expired", "the relay closed the connection", ...).
  bool handshake(const delivery::StopSignal* stop, std::chrono::steady_clock::time_point until,
                 std::string& error);
  // Writes what the connection takes now of `data`: the bytes written (> 0),
  // 0 when it has to wait for `wait_for` (POLLIN or POLLOUT) first, or -1
  // with `error` when the connection failed.
  ssize_t write(const char* data, size_t size, short& wait_for, std::string& error);
  // Without waiting, reads what the relay sent (TLS 1.3 session tickets, an
  // alert): false once it closed the connection or the connection failed.
  bool alive();
  // Says goodbye (close_notify), without waiting for the answer.
  void shutdown();

 private:
  // After our side of the handshake: the relay's alert or close that may
  // follow (it refused our certificate), or silence, which is a yes.
  bool await_verdict(const delivery::StopSignal* stop, std::chrono::steady_clock::time_point until,
                     std::string& error);

  std::shared_ptr<TlsContext> context_;
  SSL* ssl_ = nullptr;
  int fd_;
};

}  // namespace syslogmod
