#!/usr/bin/python3
"""A test SMTP server on loopback (aiosmtpd), for kcsd's delivery tests.

    tests/smtp.py DIR [--tls CERT KEY] [--auth USER PASSWORD]

Listens on 127.0.0.1 on a free port, written to DIR/port once it accepts.
Each accepted message is written, bytes as received (CRLF), to
DIR/Maildir/new/N.eml, and a line "N MAIL-FROM RCPT" to DIR/delivered.
With --tls, STARTTLS is offered and required before MAIL; with --auth,
AUTH PLAIN or LOGIN is required.

Scripted answers, read from DIR/rules at each RCPT: lines "ADDRESS CODE
COUNT TEXT": the next COUNT times ADDRESS is given, the answer is CODE TEXT
(COUNT 0: always). A line "stall ADDRESS" makes DATA for ADDRESS store the
message, write DIR/stalled and then wait a minute before it answers, as a
server that accepted a message whose client went away before the reply.
"""
import asyncio
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    top = args.pop(0)
    tls = auth = None
    while args:
        opt = args.pop(0)
        if opt == "--tls":
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(args.pop(0), args.pop(0))
        elif opt == "--auth":
            auth = (args.pop(0).encode(), args.pop(0).encode())
        else:
            sys.exit("unknown option " + opt)
    new = os.path.join(top, "Maildir", "new")
    for d in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(top, "Maildir", d), exist_ok=True)
    used = {}

    def rules(address):
        try:
            with open(os.path.join(top, "rules")) as f:
                lines = [line.split(None, 3) for line in f if line.strip()]
        except FileNotFoundError:
            return None, False
        stall = any(r[0] == "stall" and r[1] == address for r in lines)
        for i, r in enumerate(lines):
            if r[0] == address and len(r) >= 3:
                count = int(r[2])
                if count == 0 or used.get(i, 0) < count:
                    used[i] = used.get(i, 0) + 1
                    return r[1] + " " + (r[3].strip() if len(r) > 3 else "scripted answer"), stall
        return None, stall

    class Handler:
        n = 0

        async def handle_RCPT(self, server, session, envelope, address, options):
            answer, _ = rules(address)
            if answer:
                return answer
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            Handler.n += 1
            n = Handler.n
            with open(os.path.join(top, "Maildir", "tmp", "%d.eml" % n), "wb") as f:
                f.write(envelope.original_content)
            os.rename(os.path.join(top, "Maildir", "tmp", "%d.eml" % n), os.path.join(new, "%d.eml" % n))
            with open(os.path.join(top, "delivered"), "a") as f:
                f.write("%d %s %s\n" % (n, envelope.mail_from, " ".join(envelope.rcpt_tos)))
            if any(rules(r)[1] for r in envelope.rcpt_tos):
                open(os.path.join(top, "stalled"), "w").close()
                await asyncio.sleep(60)
            return "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == auth
        # handled=False: a refusal gets the standard 535 answer
        return AuthResult(success=ok, handled=False)

    def factory():
        kw = {}
        if tls:
            kw.update(tls_context=tls, require_starttls=True)
        if auth:
            kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(tls))
        return SMTP(Handler(), hostname="smtp.test", **kw)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    with open(os.path.join(top, "port.tmp"), "w") as f:
        f.write("%d\n" % port)
    os.rename(os.path.join(top, "port.tmp"), os.path.join(top, "port"))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    loop.run_forever()
    server.close()


if __name__ == "__main__":
    main()
