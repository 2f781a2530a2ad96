// The container's worker: started by the keeper (the Dockerfile's CMD), it takes the keeper's socket
// with lameduck.listen(); run alone (`node server.js`), the same line binds the port itself.
import { createLameduck } from '@lameduck/core';
import { buildServer } from './app.js';

const lameduck = createLameduck();
await lameduck.listen(buildServer(lameduck), Number(process.env.PORT ?? 8080));
