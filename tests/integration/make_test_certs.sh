#!/usr/bin/env bash
# Makes a throw-away CA, a server certificate for localhost/127.0.0.1 and a client certificate,
# all signed by the CA, plus a second CA that signed nothing of ours (for "unknown CA" tests).
# Usage: make_test_certs.sh DIR
set -euo pipefail
dir=${1:?usage: make_test_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
days=2
subj() { echo "/O=Ketamine Gateway Tests/CN=$1"; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days $days -subj "$(subj test-ca)" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days $days -subj "$(subj other-ca)" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
for who in server client; do
  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj "$(subj $who)" 2>/dev/null
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem -days $days \
    -extfile $who.ext 2>/dev/null
done
# A client certificate from the other CA: mutual TLS must refuse it.
openssl req -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.csr -subj "$(subj stranger)" 2>/dev/null
openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -out stranger.pem \
  -days $days -extfile client.ext 2>/dev/null
rm -f ./*.csr ./*.srl ./*.ext
