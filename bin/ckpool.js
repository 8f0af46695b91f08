#!/usr/bin/env -S node --max-semi-space-size=1
// `ckpool`: the name we were run as matters — a copy or symlink called ckproxy means -p.
import { basename } from 'node:path';
import { launch } from './launch.js';

await launch('ckpool', basename(process.argv[1] ?? 'ckpool'));
