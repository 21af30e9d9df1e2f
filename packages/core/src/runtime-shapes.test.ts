import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishedPorts } from './runtime-shapes.ts';

test('publishedPorts: the host side of each TCP ports entry, in every compose syntax', () => {
  const yaml = `services:
  a:
    image: x
    ports:
      - "8080:80"
      - "127.0.0.1:9000:9000/tcp"
      - "[::1]:7000:70"
      - "5353:53/udp"
      - "3000"
      - 4000
      - "6000-6002:6000-6002"
      - target: 80
        published: "8443"
        protocol: tcp
      - target: 53
        published: 53
        protocol: udp
      - target: 81
  b:
    image: y
    ports: ["8080:8080"]
  c:
    image: z
`;
  assert.deepEqual(publishedPorts(yaml), [6000, 6001, 6002, 7000, 8080, 8443, 9000]);
  assert.deepEqual(publishedPorts('services: [oops'), []);
  assert.deepEqual(publishedPorts('version: "3"'), []);
  assert.deepEqual(publishedPorts('services:\n  a:\n    image: x\n    ports:\n      - "1-100000:1-100000"\n').length, 100, 'ranges are capped');
});
