import socket


def handler(event):
    address = (event["ip-address"], event["port"])
    chunks = []
    with socket.create_connection(address, timeout=20) as sock:
        # The server writes its reply and closes: read to the end.
        while True:
            chunk = sock.recv(1024)
            if not chunk:
                break
            chunks.append(chunk)
    return {"result": b"".join(chunks).decode()}
