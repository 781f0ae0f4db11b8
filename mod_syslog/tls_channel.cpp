#include "tls_channel.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "net.h"
#include "trusted_file.h"

namespace syslogmod {
namespace {

// A relay may turn our certificate down only once the handshake is over on
// our side (TLS 1.3 sends the client's certificate last; rsyslog checks the
// peer after its accept): its alert or its close comes this soon after.
constexpr std::chrono::milliseconds kVerdictWait{200};

constexpr const char* kCipherSuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// OpenSSL's reason for the last failure on this thread, or `fallback`.
std::string openssl_error(const std::string& fallback) {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (!e) return fallback;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  // "error:0A000086:SSL routines::certificate verify failed" -> the reason.
  const char* reason = std::strrchr(buf, ':');
  return reason && reason[1] ? reason + 1 : buf;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in `pem`, in order.
std::vector<X509Ptr> certificates_in(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = memory_bio(pem);
  while (bio) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!x) break;
    out.emplace_back(x);
  }
  ERR_clear_error();  // the end of the file reads as an error
  return out;
}

// A key protected by a passphrase cannot be used: nobody is there to type it.
int no_passphrase(char*, int, int, void*) { return -1; }

KeyPtr key_in(const std::string& pem) {
  BioPtr bio = memory_bio(pem);
  return KeyPtr(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                    : nullptr);
}

bool is_ip_address(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

bool load_credentials(TlsCredentials& c, std::string& error) {
  if (c.cert_file.empty() != c.key_file.empty()) {
    error = c.cert_file.empty() ? "key= needs cert= (the client certificate it belongs to)"
                                : "cert= needs key= (the client certificate's private key)";
    return false;
  }
  if (!c.ca_file.empty()) {
    if (!delivery::read_trusted_file(c.ca_file, c.ca_pem, error)) return false;
    if (certificates_in(c.ca_pem).empty()) {
      error = c.ca_file + ": no PEM certificate in it";
      return false;
    }
  }
  if (c.cert_file.empty()) return true;
  if (!delivery::read_trusted_file(c.cert_file, c.cert_pem, error) ||
      !delivery::read_trusted_file(c.key_file, c.key_pem, error))
    return false;
  std::vector<X509Ptr> chain = certificates_in(c.cert_pem);
  if (chain.empty()) {
    error = c.cert_file + ": no PEM certificate in it";
    return false;
  }
  KeyPtr key = key_in(c.key_pem);
  if (!key) {
    error = c.key_file + ": no PEM private key in it (or one protected by a passphrase: " +
            openssl_error("unreadable") + ")";
    return false;
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    error = c.key_file + ": not the private key of the certificate in " + c.cert_file;
    return false;
  }
  return true;
}

TlsCredentials::~TlsCredentials() { forget_private_key(*this); }

void forget_private_key(TlsCredentials& c) {
  if (!c.key_pem.empty()) OPENSSL_cleanse(c.key_pem.data(), c.key_pem.size());
  c.key_pem.clear();
}

// ---- TlsContext ----

std::shared_ptr<TlsContext> TlsContext::make(const TlsCredentials& c, std::string& error) {
  std::shared_ptr<TlsContext> t(new TlsContext());
  t->peer_name_ = c.peer_name;
  t->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!t->ctx_) {
    error = "cannot make a TLS context: " + openssl_error("out of memory");
    return nullptr;
  }
  SSL_CTX* ctx = t->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // A batch is handed over as it goes out, in as many writes as the socket
  // takes, from wherever the sender's buffer is.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  // AES-128-GCM first: as safe for logs as AES-256, and its fewer rounds
  // are most of what encrypting a line costs (relays pick the client's
  // first choice unless told otherwise).
  SSL_CTX_set_ciphersuites(ctx, kCipherSuites);
  if (c.ca_pem.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      error = "cannot load the system's trust store: " + openssl_error("unknown");
      return nullptr;
    }
  } else {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (X509Ptr& x : certificates_in(c.ca_pem)) X509_STORE_add_cert(store, x.get());
    // ca= may name an intermediate CA alone: what it names is trusted.
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  }
  if (!c.cert_pem.empty()) {
    std::vector<X509Ptr> chain = certificates_in(c.cert_pem);
    KeyPtr key = key_in(c.key_pem);
    if (chain.empty() || !key || SSL_CTX_use_certificate(ctx, chain.front().get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      error = "cannot use the client certificate " + c.cert_file + ": " + openssl_error("refused");
      return nullptr;
    }
    for (size_t i = 1; i < chain.size(); ++i)
      if (SSL_CTX_add0_chain_cert(ctx, chain[i].get()) == 1) chain[i].release();
  }
  // Nothing of this is left on the thread's error queue (under prefork,
  // the thread that serves requests, mod_ssl's too).
  ERR_clear_error();
  return t;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

// ---- TlsStream ----

TlsStream::TlsStream(std::shared_ptr<TlsContext> context, int fd)
    : context_(std::move(context)), fd_(fd) {
  ssl_ = SSL_new(context_->get());
  if (!ssl_) return;
  SSL_set_fd(ssl_, fd_);
  SSL_set_connect_state(ssl_);
  const std::string& name = context_->peer_name();
  const bool checks_name =
      is_ip_address(name) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str()) == 1
                          : SSL_set_tlsext_host_name(ssl_, name.c_str()) == 1 &&  // SNI
                                SSL_set1_host(ssl_, name.c_str()) == 1;
  if (!checks_name) {
    // Never a connection whose relay's name goes unchecked.
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

bool TlsStream::handshake(const delivery::StopSignal* stop,
                          std::chrono::steady_clock::time_point until, std::string& error) {
  if (!ssl_) {
    error = "cannot start TLS (or set the name to check): " + openssl_error("out of memory");
    return false;
  }
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return await_verdict(stop, until, error);
    const int e = SSL_get_error(ssl_, rc);
    const short wait = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (wait) {
      if (delivery::wait_for(fd_, wait, stop, until) == 0) {
        error = "the TLS handshake did not finish in time";
        return false;
      }
      continue;
    }
    const long verdict = SSL_get_verify_result(ssl_);
    if (verdict != X509_V_OK) {
      ERR_clear_error();
      error = std::string("certificate rejected: ") + X509_verify_cert_error_string(verdict) +
              " (the relay's certificate, checked for '" + context_->peer_name() + "')";
    } else if (e == SSL_ERROR_SYSCALL && errno) {
      error = "TLS handshake: " + delivery::errno_string(errno);
    } else {
      error = "TLS handshake: " + openssl_error("the relay closed the connection");
    }
    return false;
  }
}

bool TlsStream::await_verdict(const delivery::StopSignal* stop,
                              std::chrono::steady_clock::time_point until, std::string& error) {
  const auto quiet_until = std::min(until, std::chrono::steady_clock::now() + kVerdictWait);
  for (;;) {
    char first;
    ERR_clear_error();
    errno = 0;
    const int rc = SSL_peek(ssl_, &first, 1);
    if (rc > 0) return true;  // it talks: it took us
    const int e = SSL_get_error(ssl_, rc);
    const short wait = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (wait) {
      // Session tickets are read on the way; silence until then is a yes.
      if (delivery::wait_for(fd_, wait, stop, quiet_until) == 0) return true;
      continue;
    }
    error = "the relay ended the connection right after the handshake (" +
            (e == SSL_ERROR_SYSCALL && errno ? delivery::errno_string(errno)
                                             : openssl_error("it closed it")) +
            "); does it want a client certificate (cert=, key=) it trusts?";
    return false;
  }
}

ssize_t TlsStream::write(const char* data, size_t size, short& wait_for, std::string& error) {
  ERR_clear_error();
  errno = 0;
  const int rc = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(size, INT_MAX)));
  if (rc > 0) return rc;
  const int e = SSL_get_error(ssl_, rc);
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
    wait_for = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
    return 0;
  }
  error = e == SSL_ERROR_SYSCALL && errno
              ? "send: " + delivery::errno_string(errno)
              : "TLS: " + openssl_error("the relay closed the connection");
  return -1;
}

bool TlsStream::alive() {
  char scratch[4096];
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_read(ssl_, scratch, sizeof scratch);
    if (rc > 0) continue;  // relays do not talk back: read it away
    const int e = SSL_get_error(ssl_, rc);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  }
}

void TlsStream::shutdown() {
  if (!ssl_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // one try, never waited for
  ERR_clear_error();
}

}  // namespace syslogmod
