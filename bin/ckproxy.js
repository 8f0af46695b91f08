#!/usr/bin/env -S node --max-semi-space-size=1
// `ckproxy` is ckpool -p (ckpool decides by its program name).
import { launch } from './launch.js';

await launch('ckpool', 'ckproxy');
