// What a protocol actor sees of its connection: bytes in (through a
// connection_handler), bytes out (through a stream). Two kinds exist: a TCP
// byte stream (tcp_connection) and a WebSocket, whose unit is the message
// (ws_connection). A protocol that frames its own output writes one frame
// per write() on a message-oriented stream.
//
// Threading: the stream's calls may be made from any thread (actors make
// them); the handler's calls run on the io thread and must not block.
#pragma once

#include <cstddef>
#include <string>

namespace qmesh::net {

/// Receives what a connection reads. Called on the io thread only.
class connection_handler {
public:
  virtual ~connection_handler();

  /// Bytes read (a byte stream: any part of the stream; a message-oriented
  /// stream: one whole message). The receiver calls stream::consumed() once
  /// it is done with them; reading pauses while too many chunks are
  /// unconsumed (back-pressure towards the peer).
  virtual void on_data(std::string chunk) = 0;

  /// The write backlog fell to zero after notify_when_drained().
  virtual void on_drained() = 0;

  /// The connection is closed (peer closed, error, or close()). Called once;
  /// no call follows it.
  virtual void on_closed(const std::string& why) = 0;
};

/// One client connection as its protocol actor uses it. Shared between the
/// io thread and the actor; every call is thread-safe.
class stream {
public:
  virtual ~stream();

  /// Queues bytes for writing: on a message-oriented stream, one message.
  virtual void write(std::string bytes) = 0;

  /// Writes what is queued, then closes.
  virtual void close_after_flush() = 0;

  /// Closes at once, dropping queued bytes.
  virtual void close() = 0;

  /// One chunk from on_data is processed.
  virtual void consumed() = 0;

  /// Calls on_drained once the write backlog is empty.
  virtual void notify_when_drained() = 0;

  /// Bytes queued or being written.
  virtual size_t backlog() const noexcept = 0;

  /// The peer's address, `HOST:PORT`.
  virtual const std::string& peer() const noexcept = 0;

  /// The peer's IP address alone (`?` if unknown).
  virtual const std::string& address() const noexcept = 0;

  /// True if each write() is one message and each chunk read one message
  /// (a WebSocket); false for a byte stream.
  virtual bool message_oriented() const noexcept = 0;
};

} // namespace qmesh::net
