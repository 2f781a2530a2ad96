// pm2's entry for bench/restart/app.ts: pm2 refuses a .ts script on Node < 22.18, so this plain module
// registers tsx and imports the TypeScript app (pm2's `node_args` add the source export condition).
import { register } from 'tsx/esm/api';

register();
await import('./app.ts');
